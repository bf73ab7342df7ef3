// Small DOM helpers shared by the page's modules.

/** The element with this id; the page is broken without it, so a missing one throws. */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page lacks #${id}`);
  return e as T;
}

/** Shows an error in the page's banner (not only in the console), with a button to dismiss it. */
export function showError(e: unknown, where = ''): void {
  const msg = e instanceof Error ? e.message : String(e);
  const el = $('error');
  const dismiss = document.createElement('button');
  dismiss.textContent = 'Dismiss';
  dismiss.className = 'dismiss';
  dismiss.addEventListener('click', () => (el.hidden = true));
  el.replaceChildren(`${where ? `${where}: ` : ''}${msg} `, dismiss);
  el.dataset.where = where;
  el.hidden = false;
}

/** Hides the error banner if it shows an error of `where` (what it said no longer applies). */
export function clearError(where: string): void {
  const el = $('error');
  if (el.dataset.where === where) el.hidden = true;
}

/** Sets a statistic's text and, for tests and tools, its raw value as data-value. */
export function stat(id: string, text: string, value?: number): void {
  const e = $(id);
  e.textContent = text;
  if (value !== undefined) e.dataset.value = String(value);
}

/**
 * Keyboard choice among `count` items (channels) laid out `cols` to a row: the index that arrow
 * keys, Home or End move `current` to (-1: none chosen yet), or undefined for any other key.
 * Left and right step through all; up and down move within a column, wrapping around.
 */
export function arrowChoice(ev: KeyboardEvent, current: number, count: number, cols = count): number | undefined {
  const at = Math.max(current, 0);
  switch (ev.key) {
    case 'ArrowRight':
      return (current + 1) % count;
    case 'ArrowLeft':
      return (at + count - 1) % count;
    case 'ArrowDown':
      if (current < 0) return 0;
      return current + cols < count ? current + cols : current % cols;
    case 'ArrowUp': {
      if (at - cols >= 0) return at - cols;
      // The last row's item in this column (the last row may be short).
      const last = at + Math.floor((count - 1 - at) / cols) * cols;
      return last;
    }
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
  }
  return undefined;
}

/**
 * A canvas of channel tiles as a listbox for assistive technology: one option per channel as its
 * fallback content, the chosen one its active descendant. A screen reader passes the arrow keys
 * that choose to a listbox (an image would leave them to its own navigation). One channel: an image.
 */
export class ChannelList {
  private options: HTMLElement[] = [];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    /** Prefix of the options' ids, unique in the page. */
    private readonly prefix: string,
  ) {}

  /** `count` options, named by `name` (rebuilt only when the count changes). */
  setChannels(count: number, name: (k: number) => string): void {
    if (this.options.length !== count) {
      this.options = count > 1 ? Array.from({ length: count }, (_, k) => {
        const o = document.createElement('div');
        o.setAttribute('role', 'option');
        o.id = `${this.prefix}-${k}`;
        return o;
      }) : [];
      this.canvas.replaceChildren(...this.options);
      this.canvas.setAttribute('role', count > 1 ? 'listbox' : 'img');
      this.choose(-1);
    }
    this.options.forEach((o, k) => (o.textContent = name(k)));
  }

  /** Marks channel k as chosen (-1: none here). */
  choose(k: number): void {
    const id = this.options[k]?.id;
    if ((this.canvas.getAttribute('aria-activedescendant') ?? undefined) === id) return;
    this.options.forEach((o, i) => o.setAttribute('aria-selected', String(i === k)));
    if (id) this.canvas.setAttribute('aria-activedescendant', id);
    else this.canvas.removeAttribute('aria-activedescendant');
  }
}
