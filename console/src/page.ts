// What a route renders: a page fills its root and returns what stops its timers and players.

/** Renders into `root` for the route's argument; returns the page's disposer. */
export type Page = (root: HTMLElement, argument: string) => () => void;
