// Bounds on what one GraphQL document may ask for, all checked before any resolver runs:
//   - graphql-armor's parse and validation rules: tokens, depth, aliases, directives and a
//     coarse cost (literal `first` only); its refusals become BAD_USER_INPUT with a plain
//     message instead of its "Syntax Error: …";
//   - graphql-js's own MaxIntrospectionDepthRule (part of the specified rules since 16.9)
//     stops deeply nested introspection, which armor's depth and cost rules skip;
//   - the query cost (rate-limits/query-cost.ts), computed with the request's variables:
//     above COST_BUDGET.capacity the request is refused for everyone; for an API key it is
//     then taken from the key's budget (HTTP 429 when the budget is short) and reported as
//     `extensions.cost { requested, remaining }`.
import { EnvelopArmor } from '@escape.tech/graphql-armor';
import type { GraphQLError, OperationDefinitionNode, ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from '../context.ts';
import type { AppDeps } from '../deps.ts';
import { keyscopeError, rateLimited, requestError } from '../errors.ts';
import { COST_BUDGET } from '../rate-limits/cost-budget.ts';
import { operationCost } from '../rate-limits/query-cost.ts';
import { selectedOperation } from './root-fields.ts';

export const QUERY_LIMITS = {
  /** Lexical tokens per document (GraphiQL's introspection query has under 200). */
  tokens: 1000,
  /** Field nesting, fragments flattened, introspection excluded (graphql-js bounds that). */
  depth: 10,
  aliases: 15,
  directives: 20,
  /**
   * armor's estimate (objects 1, scalars 0, literal `first` multiplies) sees no variables;
   * it is a coarse bound at twice the real one, which operationCost applies with variables.
   */
  armorCost: 2 * COST_BUDGET.capacity,
} as const;

type Reason = 'max_tokens' | 'max_depth' | 'max_aliases' | 'max_directives' | 'max_cost';

function refusal(reason: Reason, error: GraphQLError): GraphQLError {
  const detail = error.message.replace(/^Syntax Error: /, '');
  return keyscopeError('BAD_USER_INPUT', `Query refused before execution: ${detail}`, { reason });
}

/** Validation rules report (so the verdict is cached with the document); the parser can only throw. */
function onReject(reason: Reason) {
  return {
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) => {
        if (!context) throw refusal(reason, error);
        context.reportError(refusal(reason, error));
      },
    ],
  };
}

export function armorPlugins(): Plugin<GraphQLContext>[] {
  const armor = new EnvelopArmor<GraphQLContext>({
    maxTokens: { n: QUERY_LIMITS.tokens, ...onReject('max_tokens') },
    maxDepth: { n: QUERY_LIMITS.depth, flattenFragments: true, ignoreIntrospection: true, ...onReject('max_depth') },
    maxAliases: { n: QUERY_LIMITS.aliases, ...onReject('max_aliases') },
    maxDirectives: { n: QUERY_LIMITS.directives, ...onReject('max_directives') },
    costLimit: {
      maxCost: QUERY_LIMITS.armorCost,
      objectCost: 1,
      scalarCost: 0,
      depthCostFactor: 1,
      flattenFragments: true,
      ...onReject('max_cost'),
    },
    // Suggestions are stripped for anonymous callers only (keyscope-plugin's normaliseError).
    blockFieldSuggestion: { enabled: false },
  });
  return armor.protect().plugins as Plugin<GraphQLContext>[];
}

/** The variables-aware query cost: refused above the maximum, charged to API keys. */
export function queryCostPlugin(deps: AppDeps): Plugin<GraphQLContext> {
  // Yoga hands the same parsed document to every request with the same query text: an
  // operation that declares no variables costs the same every time, so it is costed once.
  const fixedCosts = new WeakMap<OperationDefinitionNode, number>();
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const operation = selectedOperation(args.document, args.operationName);
      if (!operation) return;
      let requested = fixedCosts.get(operation);
      if (requested === undefined) {
        requested = operationCost(args.schema, args.document, operation, args.variableValues);
        if (!operation.variableDefinitions?.length) fixedCosts.set(operation, requested);
      }
      if (requested > COST_BUDGET.capacity) {
        setResultAndStopExecution({
          errors: [
            requestError(
              keyscopeError(
                'BAD_USER_INPUT',
                `Query refused before execution: it costs ${requested} points; the most one operation may cost is ${COST_BUDGET.capacity}. Ask for smaller pages (\`first\`) or fewer fields.`,
                { reason: 'max_cost', requestedCost: requested },
              ),
            ),
          ],
        });
        return;
      }
      const { state } = args.contextValue;
      if (state.viewer.kind !== 'apiKey') return;
      const spend = await deps.rateLimits.cost.spend(state.viewer.key.id, requested);
      state.cost = { requested, remaining: spend.remaining };
      if (!spend.allowed) {
        setResultAndStopExecution({
          errors: [
            requestError(
              rateLimited(
                spend.retryAfterSeconds,
                `This operation costs ${requested} points and the key's budget holds ${spend.remaining} (it refills ${COST_BUDGET.restorePerSecond} points per second).`,
              ),
              { 'Retry-After': String(spend.retryAfterSeconds) },
            ),
          ],
        });
      }
    },
  };
}
