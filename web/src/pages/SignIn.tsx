import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { ErrorMessage } from '../components/common';
import { useSession } from '../session';

export function SignIn() {
  const { signIn, ended } = useSession();
  const [error, setError] = useState<unknown>();
  const { register, handleSubmit, reset, formState } = useForm<{ token: string }>();
  const onSubmit = handleSubmit(async ({ token }) => {
    setError(undefined);
    try {
      await signIn(token.trim());
    } catch (e) {
      setError(e);
    } finally {
      // The token leaves the page: only the HttpOnly session cookie remains.
      reset({ token: '' });
    }
  });
  return (
    <main className="signin">
      <h1>Sesame</h1>
      <p>
        Sign in with an API token (the admin token is printed by the first <code>sesame serve</code>).
      </p>
      <form onSubmit={onSubmit}>
        <label>
          Token
          <input
            type="password"
            autoComplete="off"
            spellCheck={false}
            {...register('token', { required: true })}
          />
        </label>
        {formState.errors.token && <p className="field-error">Paste a token to sign in.</p>}
        {ended && !error && (
          <p role="alert" className="error">
            Your session has ended (it expired, its token was revoked, or it was signed out elsewhere): sign
            in again with a token.
          </p>
        )}
        <ErrorMessage error={error} />
        <button type="submit" disabled={formState.isSubmitting}>
          {formState.isSubmitting ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
