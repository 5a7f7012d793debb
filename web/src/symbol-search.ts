/**
 * The symbol search: a combobox (WAI-ARIA pattern) over the stored symbols.
 * Typing filters the list; ArrowDown/ArrowUp move through it, Enter picks
 * (the highlighted symbol, or what was typed), Escape closes it; a click
 * picks too. `onPick` is told the symbol, upper-cased.
 */
export interface SymbolSearch {
  setSymbols(names: readonly string[]): void;
  setValue(symbol: string): void;
}

export function symbolSearch(
  input: HTMLInputElement,
  list: HTMLUListElement,
  onPick: (symbol: string) => void,
): SymbolSearch {
  let names: readonly string[] = [];
  let shown: string[] = [];
  let active = -1;
  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', list.id);
  input.setAttribute('aria-expanded', 'false');
  list.setAttribute('role', 'listbox');

  const close = () => {
    list.hidden = true;
    active = -1;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  };
  const draw = () => {
    list.innerHTML = shown
      .map(
        (n, i) =>
          `<li role="option" id="${list.id}-${i}" data-symbol="${n}" aria-selected="${i === active}">${n}</li>`,
      )
      .join('');
    if (active >= 0) input.setAttribute('aria-activedescendant', `${list.id}-${active}`);
    else input.removeAttribute('aria-activedescendant');
    list.querySelector('[aria-selected="true"]')?.scrollIntoView({ block: 'nearest' });
  };
  const open = () => {
    const q = input.value.trim().toUpperCase();
    // Those starting with what was typed first, then those containing it.
    shown = [
      ...names.filter((n) => n.startsWith(q)),
      ...names.filter((n) => !n.startsWith(q) && n.includes(q)),
    ].slice(0, 50);
    active = Math.min(active, shown.length - 1);
    list.hidden = shown.length === 0;
    input.setAttribute('aria-expanded', String(!list.hidden));
    draw();
  };
  const pick = (symbol: string) => {
    const s = symbol.trim().toUpperCase();
    close();
    if (!s) return;
    input.value = s;
    onPick(s);
  };

  input.addEventListener('input', () => {
    active = -1;
    open();
  });
  input.addEventListener('focus', open);
  input.addEventListener('blur', () => setTimeout(close, 150));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (list.hidden) open();
      if (shown.length === 0) return;
      active =
        e.key === 'ArrowDown'
          ? (active + 1) % shown.length
          : (active - 1 + shown.length) % shown.length;
      draw();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      pick(active >= 0 ? shown[active]! : input.value);
    } else if (e.key === 'Escape') {
      close();
    }
  });
  // A value committed without the keyboard (pasted and left, or set by a script).
  input.addEventListener('change', () => pick(input.value));
  list.addEventListener('mousedown', (e) => {
    const s = (e.target as HTMLElement).closest('li')?.dataset.symbol;
    if (s) {
      e.preventDefault();
      pick(s);
    }
  });

  return {
    setSymbols(n) {
      names = [...n].sort();
    },
    setValue(symbol) {
      input.value = symbol;
    },
  };
}
