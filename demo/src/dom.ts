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
  el.hidden = false;
}

/** Sets a statistic's text and, for tests and tools, its raw value as data-value. */
export function stat(id: string, text: string, value?: number): void {
  const e = $(id);
  e.textContent = text;
  if (value !== undefined) e.dataset.value = String(value);
}

/**
 * Keyboard choice among `count` items (channels): the index that arrow keys, Home or End move
 * `current` to (-1: none chosen yet), or undefined for any other key.
 */
export function arrowChoice(ev: KeyboardEvent, current: number, count: number): number | undefined {
  switch (ev.key) {
    case 'ArrowRight':
    case 'ArrowDown':
      return (current + 1) % count;
    case 'ArrowLeft':
    case 'ArrowUp':
      return (Math.max(current, 0) + count - 1) % count;
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
  }
  return undefined;
}
