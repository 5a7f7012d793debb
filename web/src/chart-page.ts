/**
 * The chart page: candlesticks with volume on its own scale, toggleable
 * overlays (SMA 20/50/200, EMA 12/26, Bollinger), RSI (0–100, 30/70) and MACD
 * panes with titles; a legend that reads out OHLCV and every shown indicator
 * under the crosshair; a note where a series is too short for an indicator;
 * live from /api/stream (the forming bar moves, new bars append); scrolling
 * back loads older history. Symbol, interval and indicators are in the URL.
 */
import {
  CandlestickSeries,
  createChart,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
  LineSeries,
  LineStyle,
  type MouseEventParams,
  type SeriesType,
  type Time,
  type UTCTimestamp,
} from 'lightweight-charts';
import { type ApiBar, getJson, latestBars, type SeriesInfo } from './api.ts';
import { symbolSearch } from './symbol-search.ts';
import { chartColours, followTheme, type Palette, palette } from './theme.ts';

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
/** Bars an indicator needs before its first value (TA-Lib conventions; MACD 26 + 9 − 1). */
const NEEDS: Record<string, { label: string; bars: number }> = {
  sma_20: { label: 'SMA 20', bars: 20 },
  sma_50: { label: 'SMA 50', bars: 50 },
  sma_200: { label: 'SMA 200', bars: 200 },
  ema_12: { label: 'EMA 12', bars: 12 },
  ema_26: { label: 'EMA 26', bars: 26 },
  bb: { label: 'Bollinger', bars: 20 },
  rsi_14: { label: 'RSI 14', bars: 15 },
  macd: { label: 'MACD 12 26 9', bars: 34 },
};
const DAILY = new Set(['1d', '1wk', '1mo']);
const fmtNum = (v: number | null | undefined, digits = 2): string =>
  v === null || v === undefined || !Number.isFinite(v)
    ? '—'
    : Math.abs(v) >= 1e6
      ? `${(v / 1e6).toFixed(2)}M`
      : Math.abs(v) >= 1e4
        ? `${(v / 1e3).toFixed(1)}K`
        : v.toFixed(digits);
const esc = (x: string) => x.replaceAll('&', '&amp;').replaceAll('<', '&lt;');

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
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const wanted = params.get('ind');
  const shownOverlays = new Set<string>(
    wanted !== null
      ? wanted.split(',').filter((x) => OVERLAYS.some((o) => o.id === x))
      : OVERLAYS.filter((o) => o.on).map((o) => o.id),
  );
  root.innerHTML = `
    <section class="toolbar">
      <div class="combo"><label for="symbol">Symbol</label>
        <input id="symbol" autocomplete="off" spellcheck="false" size="12" aria-label="symbol">
        <ul id="symbolList" class="combo-list" hidden></ul></div>
      <span class="intervals" role="group" aria-label="interval"></span>
      <span class="overlays"></span>
    </section>
    <p id="message" class="message" hidden></p>
    <div class="chart-wrap">
      <div id="chart" class="chart" role="img" aria-label="price chart"></div>
      <div id="chartLegend" class="chart-legend" aria-live="off"></div>
      <div id="rsiTitle" class="pane-title"></div>
      <div id="macdTitle" class="pane-title"></div>
    </div>
    <p id="chartNotes" class="muted notes" hidden></p>`;
  const $ = <T extends HTMLElement>(sel: string) => root.querySelector(sel) as T;
  const input = $<HTMLInputElement>('#symbol');
  const message = $<HTMLParagraphElement>('#message');
  const el = $<HTMLDivElement>('#chart');
  const legend = $<HTMLDivElement>('#chartLegend');
  const rsiTitle = $<HTMLDivElement>('#rsiTitle');
  const macdTitle = $<HTMLDivElement>('#macdTitle');
  const notes = $<HTMLParagraphElement>('#chartNotes');
  const state: PageState = { symbol: '', interval: '1d', bars: [], hasMore: true, loading: false };
  let series: SeriesInfo[] = [];
  let liveUpdates = 0;

  let colours: Palette = palette();
  const chart: IChartApi = createChart(el, {
    autoSize: true,
    ...chartColours(colours),
    timeScale: { timeVisible: true, secondsVisible: true },
  });
  const candles = chart.addSeries(CandlestickSeries, {
    upColor: colours.up,
    downColor: colours.down,
    wickUpColor: colours.up,
    wickDownColor: colours.down,
    borderVisible: false,
  });
  // Candles keep the top three quarters, volume (its own scale) the bottom fifth: never over them.
  candles.priceScale().applyOptions({ scaleMargins: { top: 0.06, bottom: 0.24 } });
  const volume = chart.addSeries(HistogramSeries, {
    priceScaleId: 'volume',
    priceFormat: { type: 'volume' },
    priceLineVisible: false,
    lastValueVisible: false,
  });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 }, visible: false });
  const line = (color: string, pane = 0, width: 1 | 2 = 1) =>
    chart.addSeries(
      LineSeries,
      { color, lineWidth: width, priceLineVisible: false, lastValueVisible: false },
      pane,
    );
  const overlays = new Map<string, ISeriesApi<SeriesType>[]>();
  for (const o of OVERLAYS) {
    const s = o.id === 'bb' ? [line(o.color), line(o.color), line(o.color)] : [line(o.color, 0, 2)];
    for (const x of s) x.applyOptions({ visible: shownOverlays.has(o.id) });
    overlays.set(o.id, s);
  }
  const rsi = line('#7048e8', 1, 2);
  // RSI on a fixed 0–100 scale with the 30 and 70 lines; MACD around its zero line.
  rsi.applyOptions({
    autoscaleInfoProvider: () => ({ priceRange: { minValue: 0, maxValue: 100 } }),
  });
  for (const level of [30, 70]) {
    rsi.createPriceLine({
      price: level,
      color: '#868e96',
      lineStyle: LineStyle.Dashed,
      lineWidth: 1,
      axisLabelVisible: true,
      title: '',
    });
  }
  const macd = line('#1c7ed6', 2, 2);
  const signal = line('#f59f00', 2);
  const hist = chart.addSeries(
    HistogramSeries,
    { priceLineVisible: false, lastValueVisible: false },
    2,
  );
  macd.createPriceLine({
    price: 0,
    color: '#868e96',
    lineStyle: LineStyle.Dotted,
    lineWidth: 1,
    axisLabelVisible: false,
    title: '',
  });
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

  /** Index of a bar by its chart time, for the legend under the crosshair. */
  let byTime = new Map<number, number>();
  const volumeColour = (b: ApiBar) => (b.close >= b.open ? colours.volumeUp : colours.volumeDown);

  /** The legend: OHLCV and every shown indicator of the bar under the crosshair (else the last). */
  function drawLegend(b: ApiBar | undefined): void {
    if (!b) {
      legend.innerHTML = `<strong>${esc(state.symbol)}</strong> ${esc(state.interval)}`;
      rsiTitle.textContent = 'RSI 14';
      macdTitle.textContent = 'MACD 12 26 9';
      return;
    }
    const i = b.indicators ?? {};
    const prev = state.bars[(byTime.get(b.ts / 1000) ?? 0) - 1];
    const change = prev ? ((b.close - prev.close) / prev.close) * 100 : null;
    const dir = b.close >= b.open ? 'up' : 'down';
    const ov = OVERLAYS.filter((o) => shownOverlays.has(o.id))
      .map((o) =>
        o.id === 'bb'
          ? `<span style="color:${o.color}">BB ${fmtNum(i.bb_upper)} / ${fmtNum(i.bb_middle)} / ${fmtNum(i.bb_lower)}</span>`
          : `<span style="color:${o.color}">${o.label} ${fmtNum(i[o.id])}</span>`,
      )
      .join(' ');
    legend.innerHTML = [
      `<strong>${esc(state.symbol)}</strong> ${esc(state.interval)}`,
      `<span class="when">${esc(label(b.ts))}</span>`,
      `<span class="ohlc ${dir}">O ${fmtNum(b.open)} H ${fmtNum(b.high)} L ${fmtNum(b.low)} C ${fmtNum(b.close)}${change === null ? '' : ` (${change >= 0 ? '+' : ''}${change.toFixed(2)} %)`}</span>`,
      `<span>V ${fmtNum(b.volume, 0)}</span>`,
      ov,
    ]
      .filter(Boolean)
      .join(' ');
    rsiTitle.textContent = `RSI 14  ${fmtNum(i.rsi_14)}${tooShort('rsi_14')}`;
    macdTitle.textContent = `MACD 12 26 9  ${fmtNum(i.macd, 3)}  signal ${fmtNum(i.macd_signal, 3)}  hist ${fmtNum(i.macd_hist, 3)}${tooShort('macd')}`;
  }

  /** A daily bar by its date, an intraday one by its time (UTC). */
  function label(ts: number): string {
    const iso = new Date(ts).toISOString();
    if (DAILY.has(state.interval)) return iso.slice(0, 10);
    return `${iso.slice(0, 10)} ${iso.slice(11, state.interval === '1s' ? 19 : 16)}`;
  }

  /** Why an indicator shows nothing: the series is shorter than it needs ('' when it is not). */
  function tooShort(id: string): string {
    const need = NEEDS[id];
    if (!need || state.bars.length === 0 || state.bars.length >= need.bars) return '';
    return ` — needs ${need.bars} bars, ${state.symbol} ${state.interval} has ${state.bars.length}`;
  }

  function drawNotes(): void {
    const short = [...shownOverlays, 'rsi_14', 'macd']
      .filter((id) => tooShort(id) !== '')
      .map((id) => `${NEEDS[id]!.label} needs ${NEEDS[id]!.bars}`);
    notes.hidden = short.length === 0;
    notes.textContent = short.length
      ? `${state.symbol} ${state.interval} has ${state.bars.length} bar${state.bars.length === 1 ? '' : 's'}: too few for ${short.join(', ')} (they start once there are enough; a longer interval or a backfill has more).`
      : '';
  }

  /** Pane titles sit at the top left of the RSI and MACD panes. */
  function placeTitles(): void {
    const panes = chart.panes();
    let top = 0;
    for (const [k, pane] of panes.entries()) {
      const title = k === 1 ? rsiTitle : k === 2 ? macdTitle : null;
      if (title) title.style.top = `${top + 4}px`;
      top += pane.getHeight() + 1;
    }
  }

  chart.subscribeCrosshairMove((param: MouseEventParams<Time>) => {
    const k = param.time === undefined ? undefined : byTime.get(param.time as number);
    drawLegend(k === undefined ? state.bars.at(-1) : state.bars[k]);
  });

  /** Into the URL: what is shown, so a view can be shared. */
  function saveView(): void {
    const q = new URLSearchParams({
      symbol: state.symbol,
      interval: state.interval,
      ind: [...shownOverlays].join(','),
    });
    history.replaceState(null, '', `#/chart?${q}`);
  }

  function applyInterval(): void {
    const daily = DAILY.has(state.interval);
    chart.applyOptions({
      timeScale: { timeVisible: !daily, secondsVisible: state.interval === '1s' },
      localization: { timeFormatter: (time: Time) => label((time as number) * 1000) },
    });
  }

  function render(): void {
    const bars = state.bars;
    byTime = new Map(bars.map((b, k) => [b.ts / 1000, k]));
    candles.setData(
      bars.map((b) => ({ time: t(b.ts), open: b.open, high: b.high, low: b.low, close: b.close })),
    );
    volume.setData(
      bars.map((b) => ({
        time: t(b.ts),
        value: b.volume,
        color: volumeColour(b),
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
    drawLegend(bars.at(-1));
    drawNotes();
    placeTitles();
  }
  const stopTheme = followTheme(chart, (p) => {
    colours = p;
    candles.applyOptions({
      upColor: p.up,
      downColor: p.down,
      wickUpColor: p.up,
      wickDownColor: p.down,
    });
    render();
  });
  const resize = new ResizeObserver(() => placeTitles());
  resize.observe(el);

  let loadSeq = 0;
  async function load(): Promise<void> {
    if (!state.symbol) return;
    const mine = ++loadSeq;
    applyInterval();
    saveView();
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
      color: volumeColour(cur),
    });
    byTime.set(cur.ts / 1000, bars.length - 1);
    if (cur.indicators) render();
    else {
      drawLegend(cur);
      drawNotes();
    }
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
      `<label><input type="checkbox" data-overlay="${o.id}" ${shownOverlays.has(o.id) ? 'checked' : ''}> <i class="swatch" style="background:${o.color}"></i>${o.label}</label>`,
  ).join('');
  overlayBox.addEventListener('change', (e) => {
    const box = e.target as HTMLInputElement;
    const id = box.dataset.overlay ?? '';
    if (box.checked) shownOverlays.add(id);
    else shownOverlays.delete(id);
    for (const s of overlays.get(id) ?? []) s.applyOptions({ visible: box.checked });
    drawLegend(state.bars.at(-1));
    drawNotes();
    saveView();
  });
  const search = symbolSearch(input, $<HTMLUListElement>('#symbolList'), (sym) => {
    if (sym === state.symbol) return;
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

  void getJson('/api/symbols')
    .then((r) => {
      series = r.symbols.filter((s) => s.kind === 'bars'); // not trades or rejects only
      const names = [...new Set(series.map((s) => s.symbol))].sort();
      search.setSymbols(names);
      if (names.length === 0) {
        show(
          'Nothing is stored yet. Run `tickline up` (it loads the bundled history) or a backfill.',
        );
        return;
      }
      const pick = params.get('symbol') ?? (names.includes('AAPL') ? 'AAPL' : names[0]!);
      state.symbol = pick.toUpperCase();
      state.interval =
        params.get('interval') ??
        series.find((s) => s.symbol === state.symbol && s.interval === '1d')?.interval ??
        series.find((s) => s.symbol === state.symbol)?.interval ??
        '1d';
      search.setValue(state.symbol);
      drawIntervals();
      void load();
    })
    .catch((err: Error) => show(`The API did not answer: ${err.message}`, 'error'));
  connect();

  return () => {
    closed = true;
    ws?.close();
    stopTheme();
    resize.disconnect();
    chart.remove();
  };
}
