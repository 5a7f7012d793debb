/**
 * The chart page: candlesticks with volume, toggleable overlays (SMA 20/50/200,
 * EMA 12/26, Bollinger), RSI and MACD panes; live from /api/stream (the
 * forming bar moves, new bars append); scrolling back loads older history.
 */
import {
  CandlestickSeries,
  createChart,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
  LineSeries,
  type SeriesType,
  type UTCTimestamp,
} from 'lightweight-charts';
import { type ApiBar, getJson, latestBars, type SeriesInfo } from './api.ts';

const INTERVALS = ['1s', '1m', '5m', '15m', '1h', '1d', '1wk'];
const OVERLAYS = [
  { id: 'sma_20', label: 'SMA 20', color: '#f59f00', on: true },
  { id: 'sma_50', label: 'SMA 50', color: '#1c7ed6', on: true },
  { id: 'sma_200', label: 'SMA 200', color: '#7048e8', on: false },
  { id: 'ema_12', label: 'EMA 12', color: '#0ca678', on: false },
  { id: 'ema_26', label: 'EMA 26', color: '#e64980', on: false },
  { id: 'bb', label: 'Bollinger', color: '#868e96', on: false },
] as const;
const PAGE = 1_000;

const t = (ms: number) => (ms / 1000) as UTCTimestamp;

interface LiveMessage {
  type: string;
  kind?: string;
  bar?: ApiBar;
  indicators?: Record<string, number | null>;
}

interface PageState {
  symbol: string;
  interval: string;
  bars: ApiBar[];
  hasMore: boolean;
  loading: boolean;
}

declare global {
  interface Window {
    /** For tests and the curious: what the chart shows. */
    __tickline?: { symbol: string; interval: string; bars: () => ApiBar[]; liveUpdates: number };
  }
}

export function chartPage(root: HTMLElement, feed: HTMLElement): () => void {
  root.innerHTML = `
    <section class="toolbar">
      <label>Symbol <input id="symbol" list="symbols" autocomplete="off" spellcheck="false" size="10"></label>
      <datalist id="symbols"></datalist>
      <span class="intervals" role="group" aria-label="interval"></span>
      <span class="overlays"></span>
    </section>
    <p id="message" class="message" hidden></p>
    <div id="chart" class="chart"></div>`;
  const $ = <T extends HTMLElement>(sel: string) => root.querySelector(sel) as T;
  const input = $<HTMLInputElement>('#symbol');
  const message = $<HTMLParagraphElement>('#message');
  const el = $<HTMLDivElement>('#chart');
  const state: PageState = { symbol: '', interval: '1d', bars: [], hasMore: true, loading: false };
  let series: SeriesInfo[] = [];
  let liveUpdates = 0;

  const chart: IChartApi = createChart(el, {
    autoSize: true,
    layout: {
      background: { color: '#ffffff' },
      textColor: '#343a40',
      panes: { separatorColor: '#dee2e6' },
    },
    grid: { vertLines: { color: '#f1f3f5' }, horzLines: { color: '#f1f3f5' } },
    timeScale: { timeVisible: true, secondsVisible: true },
    rightPriceScale: { borderColor: '#dee2e6' },
  });
  const candles = chart.addSeries(CandlestickSeries, {
    upColor: '#2f9e44',
    downColor: '#e03131',
    wickUpColor: '#2f9e44',
    wickDownColor: '#e03131',
    borderVisible: false,
  });
  const volume = chart.addSeries(HistogramSeries, {
    priceScaleId: '',
    priceFormat: { type: 'volume' },
  });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  const line = (color: string, pane = 0, width: 1 | 2 = 1) =>
    chart.addSeries(
      LineSeries,
      { color, lineWidth: width, priceLineVisible: false, lastValueVisible: false },
      pane,
    );
  const overlays = new Map<string, ISeriesApi<SeriesType>[]>();
  for (const o of OVERLAYS) {
    const s = o.id === 'bb' ? [line(o.color), line(o.color), line(o.color)] : [line(o.color, 0, 2)];
    for (const x of s) x.applyOptions({ visible: o.on });
    overlays.set(o.id, s);
  }
  const rsi = line('#7048e8', 1, 2);
  const macd = line('#1c7ed6', 2, 2);
  const signal = line('#f59f00', 2);
  const hist = chart.addSeries(
    HistogramSeries,
    { priceLineVisible: false, lastValueVisible: false },
    2,
  );
  // Price and volume take most of the height; RSI and MACD a fifth each.
  const [mainPane, rsiPane, macdPane] = chart.panes();
  mainPane?.setStretchFactor(3);
  rsiPane?.setStretchFactor(0.75);
  macdPane?.setStretchFactor(0.75);

  const show = (text: string | null, kind: 'info' | 'error' = 'info') => {
    message.hidden = text === null;
    message.textContent = text ?? '';
    message.className = `message ${kind}`;
  };

  const point = (b: ApiBar, key: string) => {
    const v = b.indicators?.[key];
    return v === null || v === undefined ? { time: t(b.ts) } : { time: t(b.ts), value: v };
  };

  function render(): void {
    const bars = state.bars;
    candles.setData(
      bars.map((b) => ({ time: t(b.ts), open: b.open, high: b.high, low: b.low, close: b.close })),
    );
    volume.setData(
      bars.map((b) => ({
        time: t(b.ts),
        value: b.volume,
        color: b.close >= b.open ? '#b2f2bb' : '#ffc9c9',
      })),
    );
    for (const id of ['sma_20', 'sma_50', 'sma_200', 'ema_12', 'ema_26']) {
      overlays.get(id)![0]!.setData(bars.map((b) => point(b, id)));
    }
    const [up, mid, low] = overlays.get('bb')!;
    up!.setData(bars.map((b) => point(b, 'bb_upper')));
    mid!.setData(bars.map((b) => point(b, 'bb_middle')));
    low!.setData(bars.map((b) => point(b, 'bb_lower')));
    rsi.setData(bars.map((b) => point(b, 'rsi_14')));
    macd.setData(bars.map((b) => point(b, 'macd')));
    signal.setData(bars.map((b) => point(b, 'macd_signal')));
    hist.setData(
      bars.map((b) => {
        const v = b.indicators?.macd_hist;
        return v === null || v === undefined
          ? { time: t(b.ts) }
          : { time: t(b.ts), value: v, color: v >= 0 ? '#8ce99a' : '#ffa8a8' };
      }),
    );
  }

  let loadSeq = 0;
  async function load(): Promise<void> {
    if (!state.symbol) return;
    const mine = ++loadSeq;
    show('Loading…');
    try {
      const bars = await latestBars(state.symbol, state.interval, PAGE);
      // A newer pick (symbol or interval) won the race: this answer is stale.
      if (mine !== loadSeq) return;
      state.bars = bars;
      state.hasMore = state.bars.length === PAGE;
      render();
      chart.timeScale().fitContent();
      if (state.bars.length === 0) {
        show(
          `No ${state.interval} bars stored for ${state.symbol}. Pick another interval, or start a backfill.`,
        );
      } else show(null);
      subscribe();
    } catch (err) {
      if (mine !== loadSeq) return;
      show(`Could not load ${state.symbol} ${state.interval}: ${(err as Error).message}`, 'error');
    }
  }

  // Scrolling back near the oldest bar loads the page before it.
  chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
    if (!range || range.from > 20 || !state.hasMore || state.loading || state.bars.length === 0)
      return;
    state.loading = true;
    const first = state.bars[0]!.ts;
    const seq = loadSeq;
    void latestBars(state.symbol, state.interval, PAGE, first)
      .then((older) => {
        if (seq !== loadSeq) return;
        state.hasMore = older.length === PAGE;
        if (older.length === 0) return;
        const visible = chart.timeScale().getVisibleLogicalRange();
        state.bars = [...older, ...state.bars];
        render();
        if (visible) {
          chart.timeScale().setVisibleLogicalRange({
            from: visible.from + older.length,
            to: visible.to + older.length,
          });
        }
      })
      .catch((err: Error) => show(`Could not load older bars: ${err.message}`, 'error'))
      .finally(() => {
        state.loading = false;
      });
  });

  // Live bars over the WebSocket.
  let ws: WebSocket | null = null;
  let closed = false;
  function subscribe(): void {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(
      JSON.stringify({ type: 'subscribe', symbols: [state.symbol], intervals: [state.interval] }),
    );
  }
  function connect(): void {
    if (closed) return;
    ws = new WebSocket(
      `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/stream`,
    );
    ws.onopen = () => {
      feed.textContent = 'live';
      feed.className = 'feed live';
      subscribe();
    };
    ws.onclose = () => {
      feed.className = 'feed';
      feed.textContent = closed ? '' : 'reconnecting…';
      if (!closed) setTimeout(connect, 2_000);
    };
    ws.onmessage = (ev) => {
      // Every frame is a JSON array of messages, in order.
      const frame = JSON.parse(String(ev.data)) as LiveMessage[];
      for (const m of frame) {
        if (m.type !== 'bar' || !m.bar) continue;
        if (m.bar.symbol !== state.symbol || m.bar.interval !== state.interval) continue;
        applyLive({ ...m.bar, ...(m.indicators ? { indicators: m.indicators } : {}) });
      }
    };
  }
  function applyLive(b: ApiBar): void {
    const bars = state.bars;
    const last = bars[bars.length - 1];
    if (last && b.ts < last.ts) {
      const i = bars.findIndex((x) => x.ts === b.ts);
      if (i >= 0) bars[i] = { ...bars[i]!, ...b, indicators: b.indicators ?? bars[i]!.indicators };
      render();
      return;
    }
    if (last && b.ts === last.ts)
      bars[bars.length - 1] = { ...last, ...b, indicators: b.indicators ?? last.indicators };
    else bars.push(b);
    liveUpdates++;
    const cur = bars[bars.length - 1]!;
    candles.update({
      time: t(cur.ts),
      open: cur.open,
      high: cur.high,
      low: cur.low,
      close: cur.close,
    });
    volume.update({
      time: t(cur.ts),
      value: cur.volume,
      color: cur.close >= cur.open ? '#b2f2bb' : '#ffc9c9',
    });
    if (cur.indicators) render();
    show(null);
  }

  // The toolbar.
  const intervalBox = root.querySelector('.intervals') as HTMLElement;
  function drawIntervals(): void {
    const stored = new Set(series.filter((s) => s.symbol === state.symbol).map((s) => s.interval));
    intervalBox.innerHTML = INTERVALS.map(
      (i) =>
        `<button type="button" data-interval="${i}" class="${i === state.interval ? 'active' : ''} ${stored.has(i) ? '' : 'empty'}" title="${stored.has(i) ? '' : 'nothing stored yet'}">${i}</button>`,
    ).join('');
  }
  intervalBox.addEventListener('click', (e) => {
    const i = (e.target as HTMLElement).dataset.interval;
    if (!i || i === state.interval) return;
    state.interval = i;
    drawIntervals();
    void load();
  });
  const overlayBox = root.querySelector('.overlays') as HTMLElement;
  overlayBox.innerHTML = OVERLAYS.map(
    (o) =>
      `<label><input type="checkbox" data-overlay="${o.id}" ${o.on ? 'checked' : ''}> <span style="color:${o.color}">${o.label}</span></label>`,
  ).join('');
  overlayBox.addEventListener('change', (e) => {
    const box = e.target as HTMLInputElement;
    for (const s of overlays.get(box.dataset.overlay ?? '') ?? [])
      s.applyOptions({ visible: box.checked });
  });
  input.addEventListener('change', () => {
    const sym = input.value.trim().toUpperCase();
    if (!sym || sym === state.symbol) return;
    state.symbol = sym;
    const mine = series.filter((s) => s.symbol === sym);
    if (mine.length > 0 && !mine.some((s) => s.interval === state.interval)) {
      state.interval = mine.sort((a, b) => b.rows - a.rows)[0]!.interval;
    }
    drawIntervals();
    void load();
  });

  window.__tickline = {
    get symbol() {
      return state.symbol;
    },
    get interval() {
      return state.interval;
    },
    bars: () => state.bars,
    get liveUpdates() {
      return liveUpdates;
    },
  };

  void getJson<{ symbols: SeriesInfo[] }>('/api/symbols')
    .then((r) => {
      series = r.symbols.filter((s) => s.rows > 0); // not the rows of rejects only
      const names = [...new Set(series.map((s) => s.symbol))].sort();
      (root.querySelector('#symbols') as HTMLDataListElement).innerHTML = names
        .map((n) => `<option value="${n}"></option>`)
        .join('');
      if (names.length === 0) {
        show(
          'Nothing is stored yet. Run `tickline up` (it loads the bundled history) or a backfill.',
        );
        return;
      }
      const hash = new URLSearchParams(location.hash.split('?')[1] ?? '');
      const pick = hash.get('symbol') ?? (names.includes('AAPL') ? 'AAPL' : names[0]!);
      state.symbol = pick.toUpperCase();
      state.interval =
        hash.get('interval') ?? series.find((s) => s.symbol === state.symbol)?.interval ?? '1d';
      input.value = state.symbol;
      drawIntervals();
      void load();
    })
    .catch((err: Error) => show(`The API did not answer: ${err.message}`, 'error'));
  connect();

  return () => {
    closed = true;
    ws?.close();
    chart.remove();
  };
}
