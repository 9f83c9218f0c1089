import { ApiError } from '@/api/client';
import { describeError, fieldError, NETWORK_MESSAGE, SESSION_ENDED } from './problem';

describe('describeError', () => {
  it('401: the session has ended', () => {
    expect(describeError(new ApiError({ status: 401, title: 'Unauthorized', detail: 'token expired' }), 'list users')).toBe(
      SESSION_ENDED,
    );
  });

  it('403: names the action and adds the API detail', () => {
    const err = new ApiError({ status: 403, title: 'Forbidden', detail: 'missing permission users:manage', kind: 'forbidden' });
    expect(describeError(err, 'disable the user')).toBe(
      'You do not have permission to disable the user. Missing permission users:manage.',
    );
    expect(describeError(new ApiError({ status: 403, title: 'Forbidden' }), 'see the audit log')).toBe(
      'You do not have permission to see the audit log.',
    );
  });

  it('422: the field errors by field', () => {
    const err = ApiError.from(422, {
      type: 'https://hearth.dev/problems/validation',
      title: 'Unprocessable Content',
      detail: 'the request does not match the schema',
      errors: [
        { loc: ['body', 'email'], msg: 'the email address must have the form name@domain' },
        { loc: ['body', 'password'], msg: 'String should have at least 12 characters' },
      ],
    });
    expect(describeError(err, 'create the user')).toBe(
      'Email: the email address must have the form name@domain. Password: String should have at least 12 characters.',
    );
    expect(fieldError(err, 'password')).toBe('String should have at least 12 characters');
    expect(fieldError(err, 'display_name')).toBeUndefined();
  });

  it('422 without field errors: title and detail', () => {
    expect(describeError(ApiError.from(422, { title: 'Unprocessable Content', detail: 'the file is empty' }), 'upload')).toBe(
      'Unprocessable Content. The file is empty.',
    );
  });

  it('network: the platform did not answer', () => {
    expect(describeError(ApiError.network(new TypeError('Failed to fetch')), 'load projects')).toBe(NETWORK_MESSAGE);
    expect(describeError(new TypeError('Failed to fetch'), 'load projects')).toBe(NETWORK_MESSAGE);
    expect(NETWORK_MESSAGE).toMatch(/^The platform did not answer/);
  });

  it('anything else: title and detail', () => {
    expect(describeError(ApiError.from(409, { title: 'Conflict', detail: 'a role with that name exists' }), 'create the role')).toBe(
      'Conflict. A role with that name exists.',
    );
    expect(describeError(new Error('boom'), 'x')).toBe('Boom.');
  });
});
