/**
 * Light and dark, following the system (prefers-color-scheme): the CSS
 * switches by itself; charts are told their colours here and again when the
 * system switches.
 */
import type { DeepPartial, IChartApi, TimeChartOptions } from 'lightweight-charts';

export interface Palette {
  dark: boolean;
  background: string;
  text: string;
  grid: string;
  border: string;
  up: string;
  down: string;
  volumeUp: string;
  volumeDown: string;
}

const query = matchMedia('(prefers-color-scheme: dark)');

export function palette(): Palette {
  return query.matches
    ? {
        dark: true,
        background: '#1a1b1e',
        text: '#c1c2c5',
        grid: '#2c2e33',
        border: '#373a40',
        up: '#40c057',
        down: '#fa5252',
        volumeUp: 'rgba(64, 192, 87, 0.35)',
        volumeDown: 'rgba(250, 82, 82, 0.35)',
      }
    : {
        dark: false,
        background: '#ffffff',
        text: '#343a40',
        grid: '#f1f3f5',
        border: '#dee2e6',
        up: '#2f9e44',
        down: '#e03131',
        volumeUp: '#b2f2bb',
        volumeDown: '#ffc9c9',
      };
}

/** The chart options that carry the palette (no library logo over the data). */
export function chartColours(p: Palette = palette()): DeepPartial<TimeChartOptions> {
  return {
    layout: {
      background: { color: p.background },
      textColor: p.text,
      attributionLogo: false,
      panes: { separatorColor: p.border },
    },
    grid: { vertLines: { color: p.grid }, horzLines: { color: p.grid } },
    rightPriceScale: { borderColor: p.border },
    timeScale: { borderColor: p.border },
  };
}

/** Keeps `chart` in the system's colours; `redraw` re-colours series. Returns the unsubscribe. */
export function followTheme(chart: IChartApi, redraw: (p: Palette) => void = () => {}): () => void {
  const on = () => {
    const p = palette();
    chart.applyOptions(chartColours(p));
    redraw(p);
  };
  query.addEventListener('change', on);
  return () => query.removeEventListener('change', on);
}
