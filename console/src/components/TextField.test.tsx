import { render, screen } from '@testing-library/react';
import { TextField } from './TextField';

describe('TextField', () => {
  it('ties its hint and error to the input and marks it invalid', () => {
    render(<TextField label="Email" name="email" hint="Your work address" error="must contain @" />);
    const input = screen.getByLabelText('Email');
    expect(input).toHaveProperty('ariaInvalid', 'true');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    const ids = (input.getAttribute('aria-describedby') ?? '').split(' ');
    const texts = ids.map((id) => document.getElementById(id)?.textContent);
    expect(texts).toEqual(['Your work address', 'must contain @']);
    expect(screen.getByRole('alert').textContent).toBe('must contain @');
  });
});
