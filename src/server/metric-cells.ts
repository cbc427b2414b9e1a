/**
 * prom-client counters and histograms whose labelled children are cheap enough for every
 * request. prom-client's own `labels(...).inc()` and `.observe()` validate and hash the label
 * set on every call (about a microsecond each, and a resolve request makes five); a child here
 * is a cell bound to its label values once, and an update is an addition into it. The cells
 * reach prom-client when the registry is read: a counter adds them with its public `inc()`;
 * a histogram answers `get()` with the values prom-client's Histogram would (same buckets,
 * names, label order and `+Inf`, `_sum`, `_count`), which the registry formats as usual.
 * Both stay prom-client metrics: registered, typed, reset and exported like any other.
 */
import {
  Counter,
  type CounterConfiguration,
  Histogram,
  type HistogramConfiguration,
  type LabelValues,
  type MetricObjectWithValues,
  type MetricValue,
  type MetricValueWithName,
} from 'prom-client';

type Labels<T extends string> = LabelValues<T>;

/** Label values given either way prom-client takes them: in order, or as an object. */
function valuesOf<T extends string>(names: readonly T[], args: readonly unknown[]): (string | number)[] {
  if (args.length === 1 && typeof args[0] === 'object' && args[0] !== null) {
    const labels = args[0] as Labels<T>;
    return names.map((n) => labels[n] ?? '');
  }
  return args as (string | number)[];
}

/** The cell of `values` in `cells`, made by `make` the first time. */
function cellOf<C>(cells: Map<string, C>, values: readonly (string | number)[], make: () => C): C {
  const key = values.join('\u0000');
  let cell = cells.get(key);
  if (cell === undefined) {
    cell = make();
    cells.set(key, cell);
  }
  return cell;
}

function labelsOf<T extends string>(names: readonly T[], values: readonly (string | number)[], metric: string): Labels<T> {
  if (values.length !== names.length) {
    throw new Error(`${metric} takes ${names.length} label values (${names.join(', ')}), not ${values.length}`);
  }
  const labels: Labels<T> = {};
  names.forEach((name, i) => {
    labels[name] = values[i];
  });
  return labels;
}

interface CounterCell<T extends string> {
  readonly labels: Labels<T>;
  pending: number;
}

/** A counter whose `labels(...)` children count in a cell, added to the counter when it is read. */
export class CellCounter<T extends string> extends Counter<T> {
  // Plain fields, not #private ones: prom-client's constructor calls reset() before they exist.
  private readonly cells = new Map<string, CounterCell<T>>();
  private readonly names: readonly T[];
  private readonly metric: string;

  constructor(config: CounterConfiguration<T>) {
    super(config);
    this.names = (config.labelNames ?? []) as readonly T[];
    this.metric = config.name;
  }

  override labels(...values: string[]): Counter.Internal;
  override labels(labels: Labels<T>): Counter.Internal;
  override labels(...args: unknown[]): Counter.Internal {
    const values = valuesOf(this.names, args);
    const cell = cellOf(this.cells, values, () => ({ labels: labelsOf(this.names, values, this.metric), pending: 0 }));
    return {
      inc: (value?: number) => {
        const by = value ?? 1;
        if (!(by >= 0) || !Number.isFinite(by)) throw new Error(`${this.metric}: a counter only goes up by a finite amount, not ${by}`);
        cell.pending += by;
      },
    };
  }

  override async get(): Promise<MetricObjectWithValues<MetricValue<T>>> {
    for (const cell of this.cells.values()) {
      if (cell.pending === 0) continue;
      // prom-client sets inc() on the instance in its constructor (there is no prototype method).
      this.inc(cell.labels, cell.pending);
      cell.pending = 0;
    }
    return super.get();
  }

  override reset(): void {
    if (this.cells) for (const cell of this.cells.values()) cell.pending = 0;
    super.reset();
  }

  override remove(...args: unknown[]): void {
    this.cells.delete(valuesOf(this.names, args).join('\u0000'));
    (super.remove as (...a: unknown[]) => void)(...args);
  }
}

interface HistogramCell<T extends string> {
  readonly labels: Labels<T>;
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A histogram whose children observe into a cell; `get()` builds prom-client's export from
 * the cells. Every observation goes through a child (`observe(labels, v)` finds the child).
 */
export class CellHistogram<T extends string> extends Histogram<T> {
  private readonly cells = new Map<string, HistogramCell<T>>();
  private readonly names: readonly T[];
  private readonly bounds: readonly number[];
  private readonly config: HistogramConfiguration<T>;

  constructor(config: HistogramConfiguration<T> & { buckets: number[] }) {
    super(config);
    this.config = config;
    this.names = (config.labelNames ?? []) as readonly T[];
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    // prom-client assigns `observe` in its constructor: route it through the cells.
    this.observe = ((labels: Labels<T> | number, value?: number) => {
      if (typeof labels === 'number') this.labels({}).observe(labels);
      else this.labels(labels).observe(value as number);
    }) as Histogram<T>['observe'];
  }

  override labels(...values: string[]): Histogram.Internal<T>;
  override labels(labels: Labels<T>): Histogram.Internal<T>;
  override labels(...args: unknown[]): Histogram.Internal<T> {
    const values = valuesOf(this.names, args);
    const bounds = this.bounds;
    const cell = cellOf(this.cells, values, () => ({
      labels: labelsOf(this.names, values, this.config.name),
      counts: new Float64Array(bounds.length + 1),
      sum: 0,
      count: 0,
    }));
    const observe = (value: number) => {
      if (!Number.isFinite(value)) throw new TypeError(`${this.config.name}: not a finite value: ${value}`);
      let i = 0;
      while (i < bounds.length && value > (bounds[i] as number)) i++;
      cell.counts[i] = (cell.counts[i] as number) + 1;
      cell.sum += value;
      cell.count += 1;
    };
    return {
      observe,
      startTimer: () => {
        const start = process.hrtime.bigint();
        return () => observe(Number(process.hrtime.bigint() - start) / 1e9);
      },
    };
  }

  /** What the registry formats: prom-client's Histogram export (bucket labels first, shared labels after). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    const { name, help, aggregator = 'sum' } = this.config;
    const bucket = `${name}_bucket`;
    const values: Array<Record<string, unknown>> = [];
    for (const cell of this.cells.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += cell.counts[i] as number;
        values.push({ labels: { le }, sharedLabels: cell.labels, value: cumulative, metricName: bucket, exemplar: null });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: cell.labels, value: cell.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: cell.labels, value: cell.sum, metricName: `${name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: cell.labels, value: cell.count, metricName: `${name}_count`, exemplar: undefined },
      );
    }
    return { name, help, type: 'histogram', values, aggregator } as unknown as MetricObjectWithValues<
      MetricValueWithName<T>
    >;
  }

  /** The same values with each entry's labels merged, as prom-client's Histogram `get()` gives them. */
  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    const data = await this.getForPromString();
    const values = (data.values as unknown as Array<Record<string, unknown>>).map(({ sharedLabels, labels, ...rest }) => ({
      ...rest,
      labels: { ...(labels as object), ...(sharedLabels as object) },
    }));
    return { ...data, values } as unknown as MetricObjectWithValues<MetricValueWithName<T>>;
  }

  override reset(): void {
    this.cells?.clear();
    super.reset();
  }

  override remove(...args: unknown[]): void {
    this.cells.delete(valuesOf(this.names, args).join('\u0000'));
  }

  /** A series at zero for `labels` (emptied if it had observations), as prom-client's `zero()`. */
  override zero(labels: Labels<T>): void {
    this.remove(labels);
    this.labels(labels);
  }
}
