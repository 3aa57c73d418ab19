// What a resolver's own selection asks for, looking through fragments: lets a resolver
// answer from data it already holds when nothing else is selected.
import { type GraphQLResolveInfo, Kind, type SelectionSetNode } from 'graphql';

/**
 * True when every subfield selected on this field is in `allowed`. Conservative: a field
 * under @skip still counts as selected, and an unknown fragment answers false.
 */
export function selectsOnly(info: GraphQLResolveInfo, allowed: ReadonlySet<string>): boolean {
  const seen = new Set<string>();
  const within = (set: SelectionSetNode | undefined): boolean => {
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) {
        if (!allowed.has(selection.name.value)) return false;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (!within(selection.selectionSet)) return false;
      } else {
        const name = selection.name.value;
        const fragment = info.fragments[name];
        if (!fragment) return false;
        if (seen.has(name)) continue;
        seen.add(name);
        if (!within(fragment.selectionSet)) return false;
      }
    }
    return true;
  };
  return info.fieldNodes.every((node) => within(node.selectionSet));
}
