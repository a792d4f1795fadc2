/*
 * PagePulse tracker: the script a site embeds to count pageviews and custom events.
 *
 *   <script defer data-domain="example.com" src="https://pulse.example/js/script.js"></script>
 *
 * Attributes: data-domain (site, default location.hostname), data-api (event endpoint,
 * default this script's origin + /api/event), data-hash (count #fragment routes as pages).
 * Custom events: pagepulse('Signup', {props: {plan: 'pro'}, callback: fn}). Calls made before
 * the script loaded are replayed from pagepulse.q, filled by this stub:
 *
 *   window.pagepulse = window.pagepulse || function () {
 *     (window.pagepulse.q = window.pagepulse.q || []).push(arguments) }
 *
 * The body is the one Plausible's tracker sends, so the endpoint is Plausible-compatible.
 * Nothing is stored on the device and nothing identifies it: no cookies, no storage APIs,
 * no fingerprinting. `make assets` minifies this file; the build must stay within 800 bytes
 * gzipped (tests/tracker checks it), so keep one code path per job.
 */
(function () {
  const script = document.currentScript
  const endpoint = script.getAttribute('data-api') || new URL(script.src).origin + '/api/event'
  const domain = script.getAttribute('data-domain') || location.hostname
  // 1 or undefined: JSON.stringify leaves undefined fields out, so `h` is only sent in hash mode.
  const hashMode = script.hasAttribute('data-hash') ? 1 : undefined
  // Local development and saved copies of a page are not visits. (The origin cannot change
  // without a page load, so once is enough.)
  const isLocal =
    /^localhost$|^127(\.\d+){3}$|^\[::1\]$/.test(location.hostname) || location.protocol == 'file:'
  let lastPage

  function send(name, options) {
    options = options || {}
    const done = function () {
      options.callback && options.callback()
    }
    // Nothing is sent from a local page, but the callback still runs so that code waiting
    // on it (e.g. a link that navigates afterwards) is not stuck.
    if (isLocal) return done()
    // A string body goes out as text/plain, which needs no CORS preflight.
    const body = JSON.stringify({
      n: name,
      u: location.href,
      d: domain,
      r: document.referrer || null,
      w: innerWidth,
      h: hashMode,
      p: options.props,
    })
    // sendBeacon outlives the page but answers false when the browser will not queue it.
    if (navigator.sendBeacon && navigator.sendBeacon(endpoint, body)) done()
    else fetch(endpoint, { method: 'POST', body: body, keepalive: true }).then(done, done)
  }

  // Every navigation signal lands here; the page key makes sure one page is counted once,
  // e.g. a pushState to the current path, or popstate + hashchange for one fragment change.
  function page() {
    const pageKey = location.pathname + (hashMode ? location.hash : '')
    // A prerendered page that the user never sees is not a view; visibilitychange retries.
    if (document.visibilityState == 'prerender' || pageKey == lastPage) return
    lastPage = pageKey
    send('pageview')
  }

  const pushState = history.pushState
  history.pushState = function () {
    pushState.apply(this, arguments)
    page()
  }
  addEventListener('popstate', page)
  if (hashMode) addEventListener('hashchange', page)
  // Only the first view waits for visibility; later tab switches must not count again.
  document.addEventListener('visibilitychange', function () {
    lastPage || page()
  })

  const queue = (window.pagepulse && window.pagepulse.q) || []
  window.pagepulse = send
  page()
  queue.forEach(function (args) {
    send.apply(null, args)
  })
})()
