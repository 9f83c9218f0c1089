import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ConfirmButton } from './ConfirmButton';

describe('ConfirmButton', () => {
  it('asks first, focuses the confirmation, and Escape takes it back', async () => {
    const onConfirm = vi.fn();
    render(<ConfirmButton label="Delete" ariaLabel="Delete a.txt" question="Delete a.txt?" confirmLabel="Yes, delete" onConfirm={onConfirm} />);
    await userEvent.click(screen.getByRole('button', { name: 'Delete a.txt' }));
    expect(screen.getByRole('group', { name: 'Delete a.txt?' })).toBeTruthy();
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Yes, delete' }));
    await userEvent.keyboard('{Escape}');
    expect(onConfirm).not.toHaveBeenCalled();
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Delete a.txt' }));
    await userEvent.click(screen.getByRole('button', { name: 'Delete a.txt' }));
    await userEvent.keyboard('{Enter}');
    expect(onConfirm).toHaveBeenCalledOnce();
  });
});
