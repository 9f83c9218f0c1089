import { render, screen } from '@testing-library/react';
import { createRef } from 'react';
import { Button } from './Button';

describe('Button', () => {
  it('takes a ref to its <button>, for focus to come back to it', () => {
    const ref = createRef<HTMLButtonElement>();
    render(<Button ref={ref}>Edit</Button>);
    expect(ref.current).toBe(screen.getByRole('button', { name: 'Edit' }));
  });

  it('is a type="button" in its variant, disabled and aria-busy while busy', () => {
    render(
      <Button variant="danger" busy className="wide">
        Delete
      </Button>,
    );
    const button = screen.getByRole('button', { name: 'Delete' });
    expect(button.getAttribute('type')).toBe('button');
    expect(button.className).toBe('btn btn-danger wide');
    expect(button.hasAttribute('disabled')).toBe(true);
    expect(button.getAttribute('aria-busy')).toBe('true');
  });
});
