// Small DOM helpers. Text always goes in as text (never as HTML): a worker's words are data.

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) element.setAttribute(name, "");
    else if (typeof value === "string") element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child) element.append(child);
  }
  return element;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
}

/**
 * A time from the API as a Date. PostgreSQL's timestamptz reaches us as UTC, with or without its
 * zone ("…Z", "…+00:00", or none at all): without one it is UTC, never the browser's local time.
 */
export function utc(iso: string): Date {
  return new Date(iso.endsWith("Z") || /[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
}

export function when(iso: string): string {
  return utc(iso).toLocaleString(undefined, {
    dateStyle: "short",
    timeStyle: "short",
  });
}

/** Announces a short text to screen readers (and shows it) in the page's status line. */
export function announce(text: string): void {
  const status = document.getElementById("status-line");
  if (status) status.textContent = text;
}
