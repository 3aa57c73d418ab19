// The permission map covers every root field, and every root field says what it needs.
import { describe, expect, it } from 'vitest';
import { permissionMap } from '../../src/auth/permissions.ts';
import { buildSchema } from '../../src/schema/index.ts';

describe('permission map', () => {
  const schema = buildSchema();
  const roots = [
    ['Query', schema.getQueryType()],
    ['Mutation', schema.getMutationType()],
  ] as const;

  it('names a rule for every root field (the wildcard deny is only a safety net)', () => {
    for (const [name, type] of roots) {
      const rules: Record<string, unknown> = permissionMap[name];
      const missing = Object.keys(type?.getFields() ?? {}).filter((field) => !(field in rules));
      expect(missing, `${name} fields without a rule`).toEqual([]);
      expect(rules['*'], `${name} must deny by default`).toBeDefined();
    }
  });

  it('has no rule for a field that does not exist', () => {
    for (const [name, type] of roots) {
      const fields = new Set(Object.keys(type?.getFields() ?? {}));
      const stale = Object.keys(permissionMap[name]).filter((field) => field !== '*' && !fields.has(field));
      expect(stale).toEqual([]);
    }
  });

  it("ends every root field's description with the access it needs", () => {
    for (const [, type] of roots) {
      for (const field of Object.values(type?.getFields() ?? {})) {
        expect(field.description, field.name).toMatch(/(Public: no credentials needed|Requires (a dashboard session|an API key with (READ|WRITE) scope))[^\n]*$/);
      }
    }
  });
});
