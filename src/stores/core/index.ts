/**
 * The store core: what every adapter shares, so an adapter only talks to its backend.
 *
 * - {@link StoreCore}: held by each client. `core.call(op, fn)` runs a backend call with retries
 *   (backoff + full jitter, retryable kinds only, Retry-After honoured, inside a time budget that
 *   does not repeat a request that got no answer unless a whole one fits) and turns a failure into
 *   the typed `SesameError` the adapter's `classify(err, op)` describes ({@link Classification}:
 *   kind `not_found | denied | unavailable | throttled | invalid | conflict | config`, message,
 *   `fix`). Messages get the `[store]` tag; the store's credential settings and the adapter's
 *   extra patterns are scrubbed; the provider error is never kept as `cause`.
 *   `core.withSdk(op, fn)` is `call` with the SDK the adapter declares (`sdk: { build, dispose }`),
 *   loaded on first use, a failed load forgotten, disposed by `core.close()`. The adapter
 *   declares its request time limit (`requestTimeoutMs`), its {@link StoreEndpoint} (address
 *   and CA settings, what an answer of its provider looks like: failures below HTTP and answers
 *   that are not the provider's are told by the core before the adapter's classifier) and its
 *   {@link ValueLimit} (`core.checkValue(name, value)` before a write).
 * - {@link credential} marks credential settings in the settings schema;
 *   {@link credentialPaths} derives the type's `secretSettings` from it.
 * - {@link NameMapping}: prefix and provider spelling of names, both ways.
 * - Paging: {@link tokenCursor} wraps a provider page token; {@link encodeCursor}/{@link decodeCursor}
 *   for walk states; {@link listProviderPages} fills a page from provider pages filtered here;
 *   {@link pageInMemory} only for providers that answer a complete list at once.
 *   A listing is never cut silently: `ListPage.truncated` says what a provider cut.
 * - {@link runChecks} / {@link readSampleStep}: the steps runner of `stores test`.
 * - {@link HttpTransport} + {@link classifyHttp}: JSON over HTTP(S) with CA, lookup, timeout and
 *   size cap, and the statuses every HTTP API shares.
 * - {@link capabilityMismatches}: declared capabilities against the client's methods.
 * - {@link getManyBatched}: `getMany` over a batch read (chunks, concurrency, fallback to single reads).
 * - Errors by table: {@link classifyStatus} (a row per status, per HTTP class and a default; gRPC
 *   status names), {@link isTransient} / {@link networkCode} for SDK errors, {@link secretSubject}
 *   for the "secret … in …" part of messages.
 * - {@link TokenSession}: a short-lived login token (single-flight login, renewal ahead of expiry
 *   on unref'd timers, one new login after a refusal).
 * - {@link TagLookup}: a name found by the tags on a secret (exactly one, every page, read-only).
 * - {@link addOrCreate}: a write that adds a version, creates a missing secret, and adds to one
 *   created in between.
 * - {@link pageFolderTree}: paging over a tree listed a folder at a time.
 * - Settings and metadata: {@link settingFile} and {@link readSettingFile} (files a setting names), {@link urlPathSetting}, {@link hostAccessOf},
 *   {@link secretMetadata}, {@link listingMatches}, {@link valueOfBytes}.
 *
 * @example
 * class DopplerClient implements StoreClient {
 *   readonly #core: StoreCore<{ action: string; name?: string }>;
 *   readonly #http: HttpTransport;
 *   constructor(settings: DopplerSettings, context: StoreContext) {
 *     this.#http = new HttpTransport({ lookup: context.lookup });
 *     this.#core = new StoreCore({
 *       context, settings, credentialPaths: dopplerStoreType.secretSettings,
 *       classify: (err, op) => classifyHttp(err, `${op.action} "${op.name ?? ''}"`),
 *     });
 *   }
 *   get(request: SecretRequest) {
 *     return this.#core.call({ action: 'read', name: request.name }, async () => {
 *       const answer = expectOk(await this.#http.request('GET', url, { headers }));
 *       return { value: answer.json<{ value: { computed: string } }>()?.value.computed ?? '' };
 *     });
 *   }
 *   check(options: CheckOptions) {
 *     return runChecks([{ step: 'authenticate', required: true, run: async () => '…' }, readSampleStep(this, options)]);
 *   }
 * }
 */

export { type NotFoundAsked, type NotFoundFixOptions, notFoundFix } from '../../not-found-fix.js';
export { type AddOrCreateSteps, addOrCreate } from './add-or-create.js';
export { type BatchPlan, BatchRefused, getManyBatched, pool } from './batch.js';
export { capabilityMismatches } from './capabilities.js';
export { type CheckPlanStep, readSampleStep, runChecks } from './check.js';
export {
  classifyStatus,
  GRPC_STATUS_NAMES,
  type GrpcStatus,
  grpcStatusName,
  grpcStatusOfHttp,
  type SecretSubject,
  type StatusRule,
  type StatusRules,
  secretSubject,
} from './classify-status.js';
export { type RetryPolicy, StoreCore, type StoreCoreOptions, type StoreCoreTuning } from './core.js';
export { credential, credentialPaths, credentialValues } from './credentials.js';
export { classifyAtEndpoint, type EndpointOf, type StoreEndpoint } from './endpoint.js';
export {
  type Classification,
  type ErrorKind,
  errorOf,
  RETRYABLE_KINDS,
  type Scrubber,
  scrubber,
  summaryCause,
  withFix,
} from './errors.js';
export { describeCharacter, type EscapeSpelling, escapeSpelling, type Spelled } from './escape-spelling.js';
export { type HostAccessParts, hostAccessOf } from './host-access.js';
export {
  AnswerTooLargeError,
  classifyHttp,
  expectOk,
  type HttpAnswer,
  type HttpRequest,
  HttpStatusError,
  HttpTransport,
  type HttpTransportOptions,
  jsonArray,
  jsonWith,
  NetworkError,
  type NetworkErrorTarget,
  networkFailureOf,
  retryAfterMs,
} from './http.js';
export { type Lazy, lazy } from './lazy.js';
export {
  isoTime,
  listingMatches,
  type ProtobufTimestamp,
  type ProviderMetadata,
  secretMetadata,
} from './metadata.js';
export { NameMapping, type NameMappingOptions } from './names.js';
export {
  classifyNetwork,
  ForeignAnswerError,
  lowLevelCode,
  NETWORK_ERROR_CODES,
  type NetworkFailure,
  type NetworkFailureKind,
  type NetworkSettings,
  type NetworkTarget,
  networkFailure,
  seconds,
} from './network.js';
export { numberedVersion } from './numbered-version.js';
export {
  decodeCursor,
  encodeCursor,
  listProviderPages,
  type ProviderPage,
  pageInMemory,
  pageSize,
  tokenCursor,
} from './paging.js';
export { type RetryOptions, type RetryTally, withRetry } from './retry.js';
export { fileKind, readSettingFile, settingFile } from './setting-file.js';
export { type StandardCheckSteps, standardChecks } from './standard-checks.js';
export { type TaggedSecret, TagLookup, type TagLookupOptions } from './tag-lookup.js';
export { type TokenLease, TokenSession, type TokenSessionOptions } from './token-session.js';
export { isTransient, networkCode } from './transient.js';
export { type FolderTreeOptions, pageFolderTree } from './tree.js';
export { noDotSegments, urlPathSetting } from './url-path.js';
export { valueOfBytes } from './value.js';
export { checkValue, type ValueLimit } from './value-limit.js';
