/**
 * A form generated from a JSON Schema (2020-12, as GET /store-types and /connection-types serve
 * it): objects are fieldsets, strings / numbers / booleans / enums are inputs, selects and
 * checkboxes, a union whose branches share a `const` property (auth.method) is a select that shows
 * the chosen branch's fields, a free-form record (tags, headers) is key/value rows. Paths listed as
 * secret are password inputs that never show a value: "***" (what the API answers for a stored
 * credential) is shown as "set" and sent back unchanged unless replaced.
 */
import { type ComponentType, type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { chipText, parseRef } from '../api/refs';

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
}

/** What a stored credential looks like in API answers; sent back, it keeps the stored one. */
export const MASKED = '***';

type Json = Record<string, unknown>;

export interface SchemaFormOptions {
  /** Dotted paths whose values are credentials: password inputs, never shown. */
  secretPaths: readonly string[];
  /** Editing a stored object: credentials show as set / not set. */
  editing: boolean;
  /** A secret picker; when given, every text field gets a "Pick secret" button and shows references as chips. */
  picker?: ComponentType<{ onPick(value: string): void; onCancel(): void }> | undefined;
  /** Offer the picker on credential fields only (store settings), not on every text field. */
  pickSecretsOnly?: boolean;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const branchesOf = (s: JsonSchema) => s.oneOf ?? s.anyOf;
const typeOf = (s: JsonSchema) => (Array.isArray(s.type) ? s.type[0] : s.type);
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** The property every branch fixes with a const (e.g. auth.method), if there is one. */
function discriminator(branches: JsonSchema[]): string | undefined {
  const first = branches[0]?.properties;
  if (!first) return undefined;
  return Object.keys(first).find((k) =>
    branches.every((b) => b.properties?.[k]?.const !== undefined && typeOf(b) !== 'array'),
  );
}

function isRecord(s: JsonSchema): boolean {
  return typeOf(s) === 'object' && !s.properties && s.additionalProperties !== false;
}

/** Whether a secret path covers this one (a secret record covers its values). */
function isSecret(options: SchemaFormOptions, path: string): boolean {
  return options.secretPaths.some((p) => p === '*' || path === p || path.startsWith(`${p}.`));
}

/** The top-level fields of a schema: the object the settings or fields are. */
export function SchemaForm({
  schema,
  value,
  onChange,
  options,
}: {
  schema: JsonSchema;
  value: Json;
  onChange(next: Json): void;
  options: SchemaFormOptions;
}) {
  return (
    <Node
      name=""
      path=""
      schema={schema}
      required
      value={value}
      onChange={(v) => onChange(isObject(v) ? v : {})}
      options={options}
    />
  );
}

interface NodeProps {
  name: string;
  path: string;
  schema: JsonSchema;
  required: boolean;
  value: unknown;
  onChange(next: unknown): void;
  options: SchemaFormOptions;
}

function Node(props: NodeProps) {
  const { schema } = props;
  const branches = branchesOf(schema);
  if (branches && branches.length > 0) {
    if (branches.every((b) => typeOf(b) === 'object' && b.properties)) {
      const key = discriminator(branches);
      return key ? (
        <Tagged {...props} branches={branches} tag={key} />
      ) : (
        <Alternatives {...props} branches={branches} />
      );
    }
    return <ScalarChoice {...props} branches={branches} />;
  }
  if (typeOf(schema) === 'object' && schema.properties) return <ObjectFields {...props} />;
  if (isRecord(schema)) return <RecordRows {...props} />;
  if (schema.enum) return <ScalarChoice {...props} branches={schema.enum.map((c) => ({ const: c }))} />;
  if (typeOf(schema) === 'boolean') return <Checkbox {...props} />;
  return <TextField {...props} />;
}

/** A field's label; the required mark beside it (the input says required itself), and set / not set. */
function FieldLabel({
  htmlFor,
  name,
  required,
  set,
}: {
  htmlFor: string;
  name: string;
  required: boolean;
  set?: boolean | undefined;
}) {
  return (
    <div className="field-label">
      <label htmlFor={htmlFor}>
        {name}
        {set !== undefined && <span className="muted"> ({set ? 'set' : 'not set'})</span>}
      </label>
      {required && (
        <span className="required" aria-hidden="true" title="required">
          *
        </span>
      )}
    </div>
  );
}

function Wrap({ name, children }: { name: string; children: ReactNode }) {
  if (!name) return <div className="schema-fields">{children}</div>;
  return (
    <fieldset className="schema-group">
      <legend>{name}</legend>
      {children}
    </fieldset>
  );
}

function ObjectFields({ name, path, schema, value, onChange, options }: NodeProps, hide?: string) {
  const obj = isObject(value) ? value : {};
  const required = new Set(schema.required ?? []);
  const set = (key: string, v: unknown) => {
    const next: Json = { ...obj };
    if (v === undefined) delete next[key];
    else next[key] = v;
    onChange(Object.keys(next).length > 0 || !path ? next : undefined);
  };
  return (
    <Wrap name={name}>
      {schema.description && <p className="muted">{schema.description}</p>}
      <div className="grid">
        {Object.entries(schema.properties ?? {})
          .filter(([key]) => key !== hide)
          .map(([key, s]) => (
            <Node
              key={key}
              name={key}
              path={join(path, key)}
              schema={s}
              required={required.has(key)}
              value={obj[key]}
              onChange={(v) => set(key, v)}
              options={options}
            />
          ))}
      </div>
    </Wrap>
  );
}

/** A discriminated union: choose the tag (e.g. auth method), see that branch's fields. */
function Tagged(props: NodeProps & { branches: JsonSchema[]; tag: string }) {
  const { name, path, branches, tag, value, onChange, required, schema } = props;
  const id = useId();
  const obj = isObject(value) ? value : undefined;
  const fallback = isObject(schema.default) ? schema.default[tag] : undefined;
  const current = obj?.[tag] ?? fallback;
  // A stored tag the API masks: the branch whose properties hold every stored key.
  const branch =
    branches.find((b) => b.properties?.[tag]?.const === current) ??
    (current === MASKED
      ? branches.find((b) => Object.keys(obj ?? {}).every((k) => k in (b.properties ?? {})))
      : undefined);
  const choose = (c: string) => {
    if (c === '') return onChange(undefined);
    if (c === MASKED) return;
    const next = branches.find((b) => String(b.properties?.[tag]?.const) === c);
    const keep = Object.fromEntries(
      Object.entries(obj ?? {}).filter(([k]) => k !== tag && next?.properties?.[k] !== undefined),
    );
    onChange({ [tag]: next?.properties?.[tag]?.const, ...keep });
  };
  return (
    <Wrap name={name}>
      <FieldLabel htmlFor={id} name={`${name ? `${name} ` : ''}${tag}`} required={required} />
      <select
        id={id}
        aria-required={required || undefined}
        value={current === undefined ? '' : String(current)}
        onChange={(e) => choose(e.target.value)}
      >
        {current === MASKED && <option value={MASKED}>(stored, not shown)</option>}
        {(current === undefined || !required) && (
          <option value="">{fallback ? `(default: ${String(fallback)})` : '(choose)'}</option>
        )}
        {branches.map((b) => {
          const c = String(b.properties?.[tag]?.const);
          return (
            <option key={c} value={c}>
              {c}
            </option>
          );
        })}
      </select>
      {branch && obj && (
        <ObjectBranch {...props} schema={branch} name="" hide={tag} path={path} value={obj} />
      )}
    </Wrap>
  );
}

function ObjectBranch(props: NodeProps & { hide: string }) {
  return ObjectFields(props, props.hide);
}

/** Object alternatives without a tag (e.g. a postgres url, or host/database/user): choose one. */
function Alternatives(props: NodeProps & { branches: JsonSchema[] }) {
  const { name, branches, value, onChange } = props;
  const id = useId();
  const obj = isObject(value) ? value : {};
  const describe = (b: JsonSchema) =>
    (b.required?.length ? b.required : Object.keys(b.properties ?? {})).join(', ');
  const [index, setIndex] = useState(() => {
    const found = branches.findIndex(
      (b) => (b.required ?? []).every((k) => k in obj) && Object.keys(obj).length > 0,
    );
    return found < 0 ? 0 : found;
  });
  const branch = branches[index] ?? branches[0]!;
  return (
    <Wrap name={name}>
      <label htmlFor={id}>{name ? `${name}: one of` : 'Fields: one of'}</label>
      <select
        id={id}
        value={index}
        onChange={(e) => {
          const i = Number(e.target.value);
          const props2 = branches[i]?.properties ?? {};
          setIndex(i);
          onChange(Object.fromEntries(Object.entries(obj).filter(([k]) => k in props2)));
        }}
      >
        {branches.map((b, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: branches are fixed by the schema
          <option key={i} value={i}>
            {describe(b)}
          </option>
        ))}
      </select>
      <ObjectFields {...props} name="" schema={branch} />
    </Wrap>
  );
}

/** Constants, enums and booleans as a select; a free string or number branch makes it a text field. */
function ScalarChoice(props: NodeProps & { branches: JsonSchema[] }) {
  const { name, branches, value, onChange, required, schema } = props;
  const id = useId();
  const choices: unknown[] = [];
  let free: JsonSchema | undefined;
  for (const b of branches) {
    if (b.const !== undefined) choices.push(b.const);
    else if (b.enum) choices.push(...b.enum);
    else if (typeOf(b) === 'boolean') choices.push(true, false);
    else free ??= b;
  }
  if (free) {
    const numeric = branches.some((b) => typeOf(b) === 'integer' || typeOf(b) === 'number');
    return (
      <TextField
        {...props}
        schema={{ ...free, default: schema.default }}
        parse={(text) => (numeric && /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text)}
      />
    );
  }
  const index = choices.findIndex((c) => c === value);
  const fallback = schema.default;
  return (
    <div className="field">
      <FieldLabel htmlFor={id} name={name} required={required} />
      <select
        id={id}
        required={required}
        value={index < 0 ? '' : String(index)}
        onChange={(e) => onChange(e.target.value === '' ? undefined : choices[Number(e.target.value)])}
      >
        <option value="">{fallback !== undefined ? `(default: ${String(fallback)})` : '(not set)'}</option>
        {choices.map((c, i) => (
          <option key={String(c)} value={String(i)}>
            {String(c)}
          </option>
        ))}
      </select>
    </div>
  );
}

function Checkbox({ name, value, onChange, schema }: NodeProps) {
  const checked = typeof value === 'boolean' ? value : schema.default === true;
  return (
    <label className="inline">
      <input type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      {name}
    </label>
  );
}

/** A text or number input; a secret one is a password input; with a picker, a reference is a chip. */
function TextField({
  name,
  path,
  schema,
  value,
  onChange,
  required,
  options,
  parse,
  label,
}: NodeProps & { parse?: (text: string) => unknown; label?: string }) {
  const id = useId();
  const [picking, setPicking] = useState(false);
  // The picker closes by removing itself, the button that had focus with it: focus goes back to
  // this field's Pick secret (keyboard users would otherwise start again from the top of the page).
  const pickButton = useRef<HTMLButtonElement>(null);
  const wasPicking = useRef(false);
  useEffect(() => {
    if (wasPicking.current && !picking) pickButton.current?.focus();
    wasPicking.current = picking;
  }, [picking]);
  const secret = isSecret(options, path);
  // What the input starts with; never updated from what is typed (React would copy it into the
  // value attribute, and a typed credential into the DOM).
  const [initialText, setInitialText] = useState(() =>
    value === MASKED || value === undefined ? '' : typeof value === 'string' ? value : String(value),
  );
  const masked = value === MASKED;
  const text = masked || value === undefined ? '' : typeof value === 'string' ? value : String(value);
  const ref = typeof value === 'string' ? parseRef(value) : undefined;
  const numeric = typeOf(schema) === 'integer' || typeOf(schema) === 'number';
  const placeholder = masked
    ? 'unchanged'
    : schema.default !== undefined && schema.default !== ''
      ? String(schema.default)
      : schema.format === 'uri'
        ? 'https://…'
        : undefined;
  const set = (t: string) => {
    if (t === '')
      return onChange(masked || (secret && options.editing && value === MASKED) ? MASKED : undefined);
    onChange(parse ? parse(t) : numeric && !Number.isNaN(Number(t)) ? Number(t) : t);
  };
  const shown = label ?? name;
  const Picker = options.picker && (!options.pickSecretsOnly || secret) ? options.picker : undefined;
  return (
    <div className="field">
      {ref ? (
        <div>
          <span id={id} className="field-name">
            {shown}
          </span>
          <span className="chip" aria-describedby={id}>
            {chipText(ref)}
            <button
              type="button"
              className="link"
              aria-label={`Clear the secret of ${path || shown}`}
              onClick={() => {
                setInitialText('');
                onChange(undefined);
              }}
            >
              ×
            </button>
          </span>
        </div>
      ) : (
        <FieldLabel
          htmlFor={id}
          name={shown}
          required={required}
          set={masked || (secret && options.editing) ? masked || text !== '' : undefined}
        />
      )}
      {!ref && (
        <div className="field-input">
          <input
            id={id}
            type={secret ? 'password' : numeric ? 'number' : 'text'}
            autoComplete={secret ? 'new-password' : 'off'}
            spellCheck={false}
            required={required && !masked}
            // Uncontrolled: what is typed (a credential, maybe) is never copied into a DOM attribute.
            defaultValue={initialText}
            placeholder={placeholder}
            {...(schema.minimum !== undefined ? { min: schema.minimum } : {})}
            {...(schema.maximum !== undefined ? { max: schema.maximum } : {})}
            onChange={(e) => set(e.target.value)}
          />
          {Picker && (
            <button
              ref={pickButton}
              type="button"
              className="secondary small"
              aria-describedby={id}
              onClick={() => setPicking(true)}
            >
              Pick secret
            </button>
          )}
        </div>
      )}
      {ref && Picker && (
        <button
          ref={pickButton}
          type="button"
          className="secondary small"
          aria-describedby={id}
          onClick={() => setPicking(true)}
        >
          Pick secret
        </button>
      )}
      {picking && Picker && (
        <Picker
          onCancel={() => setPicking(false)}
          onPick={(v) => {
            onChange(v);
            setPicking(false);
          }}
        />
      )}
    </div>
  );
}

/** A free-form record (tags, headers, a generic connection's fields): key/value rows. */
function RecordRows({ name, path, schema, value, onChange, options, required }: NodeProps) {
  const masked = value === MASKED;
  const [rows, setRows] = useState<Array<{ key: string; value: unknown }>>(() =>
    isObject(value) ? Object.entries(value).map(([key, v]) => ({ key, value: v })) : [],
  );
  const valueSchema: JsonSchema = isObject(schema.additionalProperties) ? schema.additionalProperties : {};
  const emit = (next: Array<{ key: string; value: unknown }>) => {
    setRows(next);
    const filled = next.filter((r) => r.key !== '');
    if (filled.length === 0) return onChange(masked ? MASKED : path ? undefined : {});
    onChange(Object.fromEntries(filled.map((r) => [r.key, r.value])));
  };
  const label = name || 'field';
  return (
    <Wrap name={name || 'Fields'}>
      {masked && <p className="muted">{name}: set (add rows to replace)</p>}
      {rows.length === 0 && !masked && (
        <p className="muted">
          No {label} entries{required ? '' : ' (optional)'}.
        </p>
      )}
      {rows.map((r, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place
        <div className="field-row" key={i}>
          <label>
            {label} {i + 1} key
            <input
              autoComplete="off"
              spellCheck={false}
              value={r.key}
              onChange={(e) => emit(rows.map((x, j) => (j === i ? { ...x, key: e.target.value } : x)))}
            />
          </label>
          <TextField
            name={`${label} ${i + 1} value`}
            path={join(path, r.key || String(i))}
            schema={valueSchema}
            required={false}
            value={r.value}
            onChange={(v) => emit(rows.map((x, j) => (j === i ? { ...x, value: v ?? '' } : x)))}
            options={options}
          />
          <button
            type="button"
            className="danger small"
            aria-label={`Remove ${label} ${i + 1}`}
            onClick={() => emit(rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <button
        type="button"
        className="secondary small"
        onClick={() => setRows([...rows, { key: '', value: '' }])}
      >
        Add {label}
      </button>
    </Wrap>
  );
}

/** The value at a dotted path of an object (for "set / not set" in lists). */
export function valueAt(obj: unknown, path: string): unknown {
  let v: unknown = obj;
  for (const part of path.split('.')) {
    if (!isObject(v)) return undefined;
    v = v[part];
  }
  return v;
}
