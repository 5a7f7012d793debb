import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { parseBarsCsv, splitCsvLine } from './csv-format.ts';

const opts = { interval: '1d' as const, source: 'csv', file: 'x.csv', receivedAt: 0 };

describe('parseBarsCsv', () => {
  it('reads decimal-comma files (decimal=,): 62,5 and 1.234,56, split by ";"', () => {
    const text =
      'Datum;Eröffnung;Hoch;Tief;Schluss;Volumen\n' +
      '02.01.2024;1.234,50;1.240,00;1.230,25;1.238,75;12.345\n' +
      '03.01.2024;62,5;63;61,9;62,1;800\n' +
      '04.01.2024;62,5;abc;61,9;62,1;800\n';
    const { bars, rejects } = parseBarsCsv(text, {
      ...opts,
      symbol: 'SAP',
      mapping: {
        decimal: ',',
        dateFormat: 'DD.MM.YYYY',
        date: 'Datum',
        open: 'Eröffnung',
        high: 'Hoch',
        low: 'Tief',
        close: 'Schluss',
        volume: 'Volumen',
      },
    });
    expect(bars.map((b) => [b.open, b.high, b.low, b.close, b.volume])).toEqual([
      [1234.5, 1240, 1230.25, 1238.75, 12345],
      [62.5, 63, 61.9, 62.1, 800],
    ]);
    expect(rejects.map((r) => r.message)).toEqual([
      expect.stringMatching(/high "abc" is not a decimal number/),
    ]);
  });

  it('refuses "," as the delimiter when it is the decimal mark', () => {
    expect(() =>
      parseBarsCsv('date,open,high,low,close\n', {
        ...opts,
        symbol: 'X',
        mapping: { decimal: ',', delimiter: ',' },
      }),
    ).toThrow(/mapping.delimiter: expected a delimiter other than ","/);
  });

  it('recognises Yahoo headers without a mapping', () => {
    const { bars, rejects } = parseBarsCsv(
      'Date,Open,High,Low,Close,Adj Close,Volume\n2013-05-13,64.5,65.4,64.5,64.96,50.96,79237200\n',
      { ...opts, symbol: 'aapl' },
    );
    expect(rejects).toEqual([]);
    expect(bars).toEqual([
      {
        symbol: 'AAPL',
        interval: '1d',
        ts: Date.UTC(2013, 4, 13),
        open: 64.5,
        high: 65.4,
        low: 64.5,
        close: 64.96,
        volume: 79237200,
        adjClose: 50.96,
        source: 'csv',
        payload: '2013-05-13,64.5,65.4,64.5,64.96,50.96,79237200',
      },
    ]);
  });

  it('recognises Stooq headers with CRLF, and lower-case vega headers', () => {
    const stooq = parseBarsCsv(
      'Date,Open,High,Low,Close,Volume\r\n2018-02-26,1,2,0.5,1.5,100\r\n',
      { ...opts, symbol: 'SPY' },
    );
    expect(stooq.bars[0]).toMatchObject({
      ts: Date.UTC(2018, 1, 26),
      close: 1.5,
      volume: 100,
      adjClose: null,
    });
    const vega = parseBarsCsv(
      'date,open,high,low,close,adjclose,volume\n2000-01-03,1,2,0.5,1.5,1.4,9\n',
      { ...opts, symbol: 'SPX' },
    );
    expect(vega.bars[0]).toMatchObject({ adjClose: 1.4, volume: 9 });
  });

  it('takes the symbol from a column, and a mapping with delimiter, date format and time zone', () => {
    const text =
      'Ticker;Day;O;H;L;Last;Vol\nSAP;02.01.2024 09:00;1;2;0.5;1.5;10\nSAP;02.07.2024 09:00;1;2;0.5;1.5;10\n';
    const { bars } = parseBarsCsv(text, {
      ...opts,
      interval: '1h',
      mapping: {
        date: 'Day',
        open: 'O',
        high: 'H',
        low: 'L',
        close: 'Last',
        volume: 'Vol',
        dateFormat: 'DD.MM.YYYY HH:mm',
        timezone: 'Europe/Berlin',
      },
    });
    expect(bars.map((b) => [b.symbol, new Date(b.ts).toISOString()])).toEqual([
      ['SAP', '2024-01-02T08:00:00.000Z'], // CET, UTC+1
      ['SAP', '2024-07-02T07:00:00.000Z'], // CEST, UTC+2
    ]);
  });

  it('quarantines a broken line alone and keeps reading', () => {
    const text =
      'Date,Open,High,Low,Close,Volume\n2020-01-01,1,2,0.5,1.5,1\n2020-01-02,"1,2,0.5,1.5,1\n2020-01-03,1,2,0.5,1.5,1\n';
    const { bars, rejects } = parseBarsCsv(text, { ...opts, symbol: 'X' });
    expect(bars.map((b) => new Date(b.ts).toISOString().slice(0, 10))).toEqual([
      '2020-01-01',
      '2020-01-03',
    ]);
    expect(rejects).toMatchObject([
      {
        rule: 'malformed_row',
        payload: '2020-01-02,"1,2,0.5,1.5,1',
        message: 'x.csv:3: unclosed quote',
      },
    ]);
  });

  it('refuses a file without bar columns, naming what is missing', () => {
    expect(() => parseBarsCsv('name,age\nbob,3\n', { ...opts, symbol: 'X' })).toThrow(ConfigError);
    expect(() => parseBarsCsv('name,age\nbob,3\n', { ...opts, symbol: 'X' })).toThrow(
      /missing date, open, high, low, close/,
    );
    expect(() => parseBarsCsv('Date,Open,High,Low,Close\n', { ...opts })).toThrow(
      /has no symbol column/,
    );
  });

  it('splits quoted fields', () => {
    expect(splitCsvLine('a,"b,c","d""e"', ',')).toEqual(['a', 'b,c', 'd"e']);
    expect(splitCsvLine('a,"b', ',')).toBeNull();
  });
});
