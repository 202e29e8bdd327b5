/** Headers of the dashboard's own pages: nothing external, no framing, never cached. */
export const LOGIN_PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  // Not no-referrer: a form posted under it carries `Origin: null`, which the login refuses.
  'referrer-policy': 'same-origin'
} as const

/** Messages the login page can show; never anything the client sent. */
export const LOGIN_MESSAGES = {
  invalid: 'That is not an admin API key.',
  loggedOut: 'You are logged out.'
} as const

/** The login form: one password field for an admin API key, posted to `action`. */
export function loginPage (action: string, message?: keyof typeof LOGIN_MESSAGES): string {
  const notice = message === undefined ? '' : `<p role="alert" class="${message}">${LOGIN_MESSAGES[message]}</p>`
  // `action` is QUEUE_BOARD_PATH plus a constant: the setting's pattern leaves nothing to escape.
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Queue dashboard: log in</title>
<style>
body { font-family: system-ui, sans-serif; background: #f4f5f7; display: flex; justify-content: center; padding-top: 12vh; }
form { background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; width: 22rem; }
h1 { font-size: 1.25rem; margin-top: 0; }
label, input, button { display: block; width: 100%; box-sizing: border-box; }
input { margin: .5rem 0 1rem; padding: .5rem; font-size: 1rem; }
button { padding: .6rem; font-size: 1rem; cursor: pointer; }
.invalid { color: #b00020; }
</style>
</head>
<body>
<form method="post" action="${action}">
<h1>Queue dashboard</h1>
${notice}
<label for="key">Admin API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required maxlength="1024" autofocus>
<button type="submit">Log in</button>
</form>
</body>
</html>
`
}
