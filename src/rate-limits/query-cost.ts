// What an operation costs, computed from the document, the schema and the request's
// variables before anything executes (Shopify's model, simplified):
//   - a field that returns an object costs 1, plus what is selected inside it;
//   - a scalar or enum field costs 0;
//   - a connection (a `…Connection` field with a `first` argument) costs 1, plus `first`
//     (default 20, at most 100) times what is selected in its `edges`/`nodes`, plus the rest
//     (`pageInfo`) once;
//   - a mutation's root field costs 10, whatever it selects.
// @skip/@include are applied and fragments expanded (each fragment costed once per context),
// so neither aliases, fragments nor variables make an operation look cheaper than it is.
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  GraphQLIncludeDirective,
  GraphQLInt,
  type GraphQLSchema,
  GraphQLSkipDirective,
  Kind,
  type OperationDefinitionNode,
  OperationTypeNode,
  SchemaMetaFieldDef,
  type SelectionSetNode,
  TypeMetaFieldDef,
  getDirectiveValues,
  getNamedType,
  isCompositeType,
  isLeafType,
  isObjectType,
  isInterfaceType,
  valueFromAST,
} from 'graphql';
import { MAX_PAGE_SIZE } from '../schema/pagination.ts';

export const QUERY_COST = {
  object: 1,
  scalar: 0,
  mutation: 10,
  defaultPageSize: 20,
} as const;

type Variables = Record<string, unknown> | null | undefined;

function fieldDefinition(schema: GraphQLSchema, parent: GraphQLCompositeType, name: string): GraphQLField<unknown, unknown> | undefined {
  if (name === SchemaMetaFieldDef.name && parent === schema.getQueryType()) return SchemaMetaFieldDef;
  if (name === TypeMetaFieldDef.name && parent === schema.getQueryType()) return TypeMetaFieldDef;
  if (isObjectType(parent) || isInterfaceType(parent)) return parent.getFields()[name];
  return undefined;
}

function pageSize(field: FieldNode, variables: Variables): number {
  const argument = field.arguments?.find((a) => a.name.value === 'first');
  const value = argument ? valueFromAST(argument.value, GraphQLInt, variables ?? undefined) : undefined;
  // An invalid `first` is refused by the resolver; here it counts as the largest page.
  if (value === undefined || value === null) return QUERY_COST.defaultPageSize;
  if (typeof value !== 'number' || !Number.isInteger(value)) return MAX_PAGE_SIZE;
  return Math.min(Math.max(value, 1), MAX_PAGE_SIZE);
}

function isConnection(definition: GraphQLField<unknown, unknown>): boolean {
  return getNamedType(definition.type).name.endsWith('Connection') && definition.args.some((a) => a.name === 'first');
}

export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Variables,
): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const fragmentCosts = new Map<string, number>();

  const included = (node: Parameters<typeof getDirectiveValues>[1]) => {
    if (getDirectiveValues(GraphQLSkipDirective, node, variables ?? undefined)?.if === true) return false;
    return getDirectiveValues(GraphQLIncludeDirective, node, variables ?? undefined)?.if !== false;
  };

  const typeNamed = (name: string, fallback: GraphQLCompositeType): GraphQLCompositeType => {
    const type = schema.getType(name);
    return type && isCompositeType(type) ? type : fallback;
  };

  /** `pageFirst` is set inside a connection: its edges/nodes count that many times. `flat` prices root mutation fields. */
  const setCost = (set: SelectionSetNode, parent: GraphQLCompositeType, pageFirst: number | null, flat: number | null): number => {
    let total = 0;
    for (const selection of set.selections) {
      if (!included(selection)) continue;
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        const repeat = pageFirst !== null && (name === 'edges' || name === 'nodes') ? pageFirst : 1;
        total += repeat * (flat !== null && name !== '__typename' ? flat : fieldCost(selection, parent));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? typeNamed(selection.typeCondition.name.value, parent) : parent;
        total += setCost(selection.selectionSet, type, pageFirst, flat);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (!fragment) continue;
        const memo = `${fragment.name.value}|${pageFirst}|${flat}`;
        let cost = fragmentCosts.get(memo);
        if (cost === undefined) {
          cost = setCost(fragment.selectionSet, typeNamed(fragment.typeCondition.name.value, parent), pageFirst, flat);
          fragmentCosts.set(memo, cost);
        }
        total += cost;
      }
    }
    return total;
  };

  const fieldCost = (field: FieldNode, parent: GraphQLCompositeType): number => {
    const definition = fieldDefinition(schema, parent, field.name.value);
    if (!definition) return QUERY_COST.scalar;
    const type = getNamedType(definition.type);
    if (isLeafType(type) || !field.selectionSet || !isCompositeType(type)) return QUERY_COST.scalar;
    const first = isConnection(definition) ? pageSize(field, variables) : null;
    return QUERY_COST.object + setCost(field.selectionSet, type, first, null);
  };

  const root = schema.getRootType(operation.operation);
  if (!root) return 0;
  const flat = operation.operation === OperationTypeNode.MUTATION ? QUERY_COST.mutation : null;
  return setCost(operation.selectionSet, root, null, flat);
}
