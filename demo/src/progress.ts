// Progress of the page's start-up tasks (download, pipeline compilation, uploads): one line per
// task with a bar, removed when the task is done. Tasks may overlap (the download runs while the
// inference pipelines compile).

interface Task {
  row: HTMLElement;
  label: HTMLElement;
  bar: HTMLProgressElement;
}

export class Progress {
  private readonly tasks = new Map<string, Task>();
  /** Tasks done (or all, after clear()): late updates from work still winding down are ignored. */
  private readonly finished = new Set<string>();
  private cleared = false;

  constructor(private readonly root: HTMLElement) {}

  /** Shows or updates a task; `fraction` undefined shows an indeterminate bar. */
  set(id: string, text: string, fraction?: number): void {
    if (this.cleared || this.finished.has(id)) return;
    let t = this.tasks.get(id);
    if (!t) {
      const row = document.createElement('div');
      row.className = 'task';
      row.dataset.task = id;
      const label = document.createElement('span');
      const bar = document.createElement('progress');
      bar.max = 1;
      row.append(label, bar);
      this.root.append(row);
      t = { row, label, bar };
      this.tasks.set(id, t);
    }
    t.label.textContent = text;
    if (fraction === undefined) t.bar.removeAttribute('value');
    else t.bar.value = Math.min(1, Math.max(0, fraction));
    this.root.hidden = false;
  }

  /** Removes every task (start-up failed: none of them goes on). */
  clear(): void {
    this.cleared = true;
    for (const id of [...this.tasks.keys()]) this.done(id);
  }

  done(id: string): void {
    this.finished.add(id);
    this.tasks.get(id)?.row.remove();
    this.tasks.delete(id);
    this.root.hidden = this.tasks.size === 0;
  }
}

/** "12.3 of 54.9 MB". */
export function megabytes(received: number, total: number): string {
  return `${(received / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
}
