import { useEffect, useRef } from 'react';

/**
 * For a control that opens something in its place (an inline form): when `open` goes back to
 * false, focus returns to the control instead of falling to the page's start.
 */
export function useReturnFocus<T extends HTMLElement>(open: boolean) {
  const trigger = useRef<T>(null);
  const wasOpen = useRef(false);
  useEffect(() => {
    if (!open && wasOpen.current) trigger.current?.focus();
    wasOpen.current = open;
  }, [open]);
  return trigger;
}
