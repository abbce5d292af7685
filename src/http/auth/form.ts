// The broker's form fields (rabbitmq_auth_backend_http sends `application/x-www-form-urlencoded`
// bodies, or the same as a query string with http_method = get).

/** Reads one field; null when the form does not have it (the answers read that as ""). */
export type Fields = { get(name: string): string | null };

/**
 * A form body that needs no decoding (no `%`, no `+`: what the broker sends for partner keys),
 * read the way URLSearchParams reads it (WHATWG urlencoded parsing: parts split on `&`, empty
 * parts skipped, name before the first `=`, value after it or empty; `get` answers the first
 * part with that name) but lazily: nothing is split or copied except the values asked for.
 * Bodies reach this as decoded UTF-8 or as a URL, so they hold no lone surrogates for
 * URLSearchParams to replace either. test/auth-form.test.ts holds it to URLSearchParams.
 */
class PlainForm implements Fields {
  constructor(private readonly form: string) {}

  get(name: string): string | null {
    const form = this.form;
    if (name.length === 0) {
      // The first part that starts with `=` (empty parts have no name to match).
      let start = 1;
      if (form.charCodeAt(0) !== 61 /* = */) {
        const at = form.indexOf('&=');
        if (at === -1) return null;
        start = at + 2;
      }
      const end = form.indexOf('&', start);
      return form.slice(start, end === -1 ? form.length : end);
    }
    // The first occurrence of `name` that starts a part and ends that part's name.
    for (let at = form.indexOf(name); at !== -1; at = form.indexOf(name, at + 1)) {
      if (at > 0 && form.charCodeAt(at - 1) !== 38 /* & */) continue;
      const after = at + name.length;
      if (after === form.length || form.charCodeAt(after) === 38 /* & */) return '';
      if (form.charCodeAt(after) !== 61 /* = */) continue;
      const end = form.indexOf('&', after);
      return form.slice(after + 1, end === -1 ? form.length : end);
    }
    return null;
  }
}

/** The broker's fields; anything that needs decoding goes to URLSearchParams itself. */
export function parseForm(form: string): Fields {
  if (form.includes('%') || form.includes('+')) return new URLSearchParams(form);
  // The URLSearchParams constructor drops one leading `?`.
  return new PlainForm(form.charCodeAt(0) === 63 /* ? */ ? form.slice(1) : form);
}
