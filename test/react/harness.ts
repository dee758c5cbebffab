/**
 * A small act() harness for the hook tests: renders into a jsdom container with react-dom, and waits for what a
 * component shows (polling with a deadline, every wait inside act()).
 */
import { act, createElement, type ReactNode } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { FeatProvider } from '@feat/sdk/react';
import type { FeatClient } from '@feat/sdk';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

export interface Mounted {
  container: HTMLElement;
  /** The text of the element with `data-testid={id}` (undefined when absent). */
  text(id: string): string | undefined;
  rerender(node: ReactNode): Promise<void>;
  unmount(): Promise<void>;
}

export async function mount(client: FeatClient, node: ReactNode): Promise<Mounted> {
  const container = document.createElement('div');
  document.body.append(container);
  let root!: Root;
  const wrap = (n: ReactNode) => createElement(FeatProvider, { client }, n);
  await act(async () => {
    root = createRoot(container);
    root.render(wrap(node));
  });
  return {
    container,
    text: (id) => container.querySelector(`[data-testid="${id}"]`)?.textContent ?? undefined,
    rerender: (n) => act(async () => root.render(wrap(n))),
    unmount: async () => {
      await act(async () => root.unmount());
      container.remove();
    },
  };
}

/** Lets React and the SDK work (inside act) until `predicate` holds; fails with `what` after `timeout` ms. */
export async function until(predicate: () => boolean, what: string | (() => string), timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await act(() => new Promise<void>((resolve) => setTimeout(resolve, 20)));
  }
}

/** Runs `work` inside act (a hook's setter, a store call) and returns its result. */
export async function inAct<T>(work: () => Promise<T> | T): Promise<T> {
  let result!: T;
  await act(async () => {
    result = await work();
  });
  return result;
}
