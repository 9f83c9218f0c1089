import type { Key, ReactNode } from 'react';

export interface Column<T> {
  /** Column header text. */
  header: string;
  cell: (row: T) => ReactNode;
  /** Right-aligned numbers and the like. */
  numeric?: boolean;
}

export interface TableProps<T> {
  caption: string;
  /** Keep the caption for screen readers only. */
  hideCaption?: boolean;
  columns: Column<T>[];
  rows: readonly T[];
  rowKey: (row: T) => Key;
  /** The rows are about to be replaced (the next page or search is loading): aria-busy. */
  busy?: boolean;
}

/**
 * A data table with a caption and scope="col" headers. It scrolls sideways on narrow screens, so its
 * wrapper is a named, focusable region (keyboard users can scroll it too).
 */
export function Table<T>({ caption, hideCaption = false, columns, rows, rowKey, busy = false }: TableProps<T>) {
  return (
    <div className="table-wrap" role="region" aria-label={caption} tabIndex={0}>
      <table className="table" aria-busy={busy || undefined}>
        <caption className={hideCaption ? 'visually-hidden' : undefined}>{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.header} scope="col" className={c.numeric ? 'num' : undefined}>
                {c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={rowKey(r)}>
              {columns.map((c) => (
                <td key={c.header} className={c.numeric ? 'num' : undefined}>
                  {c.cell(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
