// Runs the built tracker inside a fake browser and prints, as JSON, what it sent.
//
//   node harness.js <built script.js> '<scenario JSON>'
//
// Scenario fields (all optional):
//   url          page address, default https://shop.example/products?id=1
//   referrer     document.referrer, default ''
//   width        window.innerWidth, default 1280
//   src          the script tag's src, default https://pulse.example/js/script.js
//   attributes   the script tag's attributes, e.g. {"data-domain": "shop.example"}
//   visibility   document.visibilityState at load, default 'visible'
//   beacon       'queued' (sendBeacon accepts), 'refused' (returns false) or 'missing'
//   queue        events passed to the pre-load stub: [{name, props, callback: true}]
//   steps        after load, in order: {pushState: url}, {popstate: url}, {hashchange: url},
//                {visibility: state}, {event: name, props, callback: true}; a hashchange
//                step also fires popstate first, unless it has "popstate": false
//
// Output: {requests: [{transport, url, body, method, keepalive}], callbacks: [names],
// forbidden: [what the script touched that it must not]}. The forbidden things also
// throw, as the script must not work around them.
'use strict'
const fs = require('fs')
const vm = require('vm')

const [scriptPath, scenarioJson] = process.argv.slice(2)
const scenario = JSON.parse(scenarioJson || '{}')

const requests = []
const callbacks = []
const forbidden = []

function refuse(what) {
  forbidden.push(what)
  throw new Error(`tracker touched ${what}`)
}

function eventTarget() {
  const listeners = {}
  return {
    addEventListener(type, listener) {
      ;(listeners[type] = listeners[type] || []).push(listener)
    },
    dispatch(type, event) {
      for (const listener of listeners[type] || []) listener(event || { type })
    },
  }
}

let currentUrl = new URL(scenario.url || 'https://shop.example/products?id=1')

const location = {}
const urlParts = ['href', 'hostname', 'host', 'pathname', 'search', 'hash', 'protocol', 'origin']
for (const part of urlParts) {
  Object.defineProperty(location, part, { get: () => currentUrl[part], enumerable: true })
}

const history = {
  state: null,
  pushState(state, _title, url) {
    // Browsers throw "Illegal invocation" when the original is called on another object.
    if (this !== history) throw new TypeError('Illegal invocation')
    history.state = state
    if (url != null) currentUrl = new URL(url, currentUrl)
  },
}

const documentEvents = eventTarget()
const document = {
  currentScript: null,
  referrer: scenario.referrer || '',
  visibilityState: scenario.visibility || 'visible',
  addEventListener: documentEvents.addEventListener,
}
Object.defineProperty(document, 'cookie', {
  get: () => refuse('document.cookie'),
  set: () => refuse('document.cookie'),
})

// The tracker may only look for sendBeacon: any other navigator property (userAgent,
// plugins, languages, ...) is fingerprinting material.
const beacon = scenario.beacon || 'queued'
const sendBeacon =
  beacon === 'missing'
    ? undefined
    : function (url, body) {
        if (this !== navigator) throw new TypeError('Illegal invocation')
        if (beacon === 'refused') return false
        requests.push({ transport: 'beacon', url, body: JSON.parse(body), bodyType: typeof body })
        return true
      }
const navigator = new Proxy(
  {},
  {
    get(_target, property) {
      if (property === 'sendBeacon') return sendBeacon
      return refuse(`navigator.${String(property)}`)
    },
    has(_target, property) {
      if (property === 'sendBeacon') return beacon !== 'missing'
      return refuse(`navigator.${String(property)}`)
    },
  }
)

function fetch(url, init) {
  requests.push({
    transport: 'fetch',
    url,
    body: JSON.parse(init.body),
    bodyType: typeof init.body,
    method: init.method,
    keepalive: init.keepalive,
    headers: init.headers || null,
  })
  return Promise.resolve({ ok: true, status: 202 })
}

const windowEvents = eventTarget()
const window = {
  document,
  navigator,
  history,
  location,
  fetch,
  URL,
  innerWidth: scenario.width || 1280,
  addEventListener: windowEvents.addEventListener,
  console,
}
window.window = window
for (const storage of ['localStorage', 'sessionStorage', 'screen', 'indexedDB']) {
  Object.defineProperty(window, storage, { get: () => refuse(storage) })
}
const context = vm.createContext(window)

// The stub a site puts in its <head> so that calls before the tracker loads are kept.
const stub =
  'window.pagepulse = window.pagepulse || function () {' +
  ' (window.pagepulse.q = window.pagepulse.q || []).push(arguments) }'

function eventOptions(step) {
  const options = {}
  if (step.props) options.props = step.props
  if (step.callback) options.callback = () => callbacks.push(step.name || step.event)
  return options
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

async function main() {
  if (scenario.queue) {
    vm.runInContext(stub, context)
    for (const queued of scenario.queue) window.pagepulse(queued.name, eventOptions(queued))
  }

  const attributes = scenario.attributes || {}
  document.currentScript = {
    src: scenario.src || 'https://pulse.example/js/script.js',
    getAttribute: (name) => (name in attributes ? attributes[name] : null),
    hasAttribute: (name) => name in attributes,
  }
  vm.runInContext(fs.readFileSync(scriptPath, 'utf8'), context, { filename: scriptPath })
  // As in a browser, currentScript is only set while the script first runs.
  document.currentScript = null
  await tick()

  for (const step of scenario.steps || []) {
    if ('hashchange' in step) {
      // A fragment navigation fires popstate and then hashchange, as browsers do.
      const oldURL = currentUrl.href
      currentUrl = new URL(step.hashchange, currentUrl)
      if (step.popstate !== false) {
        windowEvents.dispatch('popstate', { type: 'popstate', state: null })
      }
      windowEvents.dispatch('hashchange', { type: 'hashchange', oldURL, newURL: currentUrl.href })
    } else if ('pushState' in step) {
      window.history.pushState({}, '', step.pushState)
    } else if ('popstate' in step) {
      currentUrl = new URL(step.popstate, currentUrl)
      windowEvents.dispatch('popstate', { type: 'popstate', state: null })
    } else if ('visibility' in step) {
      document.visibilityState = step.visibility
      documentEvents.dispatch('visibilitychange')
    } else if ('event' in step) {
      window.pagepulse(step.event, eventOptions(step))
    } else {
      throw new Error(`unknown step ${JSON.stringify(step)}`)
    }
    await tick()
  }
}

main()
  .then(() => {
    process.stdout.write(JSON.stringify({ requests, callbacks, forbidden }))
  })
  .catch((error) => {
    process.stdout.write(JSON.stringify({ requests, callbacks, forbidden, error: String(error) }))
    process.exitCode = 1
  })
