// Seeds a fresh Medusa 2.x server, through its Admin REST API only, with the store shopkeep's
// end-to-end test (tests/medusa.rs) talks to. Run by `scripts/medusa.sh seed`; writes what the
// test needs (the URL, a secret API key, the ids it checks) to the JSON file named by argv[3].
//
//   node seed.mjs http://127.0.0.1:59000 /tmp/shopkeep-medusa/seed.json
//
// The admin user must exist already (`medusa user -e … -p …`); its login comes from
// MEDUSA_ADMIN_EMAIL / MEDUSA_ADMIN_PASSWORD. Order numbers (display ids) start at 1001 — the
// script sets the sequence before it is first used, as stores usually do — because customers type
// "#1001" and a one-digit "#1" is not an order number to shopkeep's reader.
//
// The orders, all for Ada Lovelace (ada@shopkeep.test) unless said otherwise:
//   #1001  paid, unshipped              → the test cancels it
//   #1002  paid, shipped (UPS tracking) → status question; a cancellation is refused
//   #1003  paid, delivered              → the test opens a return
//   #1004  paid, unshipped              → the test changes its address
//   #1005  paid, unshipped              → the test fulfils it behind shopkeep's back; the
//                                         cancellation Medusa then refuses changes nothing
//   #1006  Ben Okafor's, unshipped      → never reachable from Ada's conversation

import { writeFileSync } from "node:fs"

const [, , base, out] = process.argv
if (!base || !out) {
  console.error("usage: node seed.mjs <medusa url> <out.json>")
  process.exit(2)
}
const email = process.env.MEDUSA_ADMIN_EMAIL || "admin@shopkeep.test"
const password = process.env.MEDUSA_ADMIN_PASSWORD || "shopkeep-e2e-admin"

let bearer = ""
async function call(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) {
    throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 800)}`)
  }
  return text ? JSON.parse(text) : {}
}
const post = (p, b) => call("POST", p, b ?? {})
const get = (p) => call("GET", p)

const started = Date.now()
bearer = (await post("/auth/user/emailpass", { email, password })).token

// A secret key for shopkeep (Basic auth, key as the user name).
const apiKey = (await post("/admin/api-keys", { title: "shopkeep e2e", type: "secret" })).api_key.token

// Store currency, sales channel, region.
const store = (await get("/admin/stores")).stores[0]
await post(`/admin/stores/${store.id}`, { supported_currencies: [{ currency_code: "usd", is_default: true }] })
let channel = (await get("/admin/sales-channels?name=Default%20Sales%20Channel")).sales_channels[0]
if (!channel) channel = (await post("/admin/sales-channels", { name: "Default Sales Channel" })).sales_channel
const region = (await post("/admin/regions", { name: "United States", currency_code: "usd", countries: ["us"], payment_providers: ["pp_system_default"] })).region

// Stock location with a shipping service zone, the manual fulfilment provider, the channel.
const location = (await post("/admin/stock-locations", {
  name: "Portland warehouse",
  address: { address_1: "1 Warehouse Way", city: "Portland", province: "OR", postal_code: "97210", country_code: "us" },
})).stock_location
await post(`/admin/stock-locations/${location.id}/sales-channels`, { add: [channel.id] })
await post(`/admin/stock-locations/${location.id}/fulfillment-providers`, { add: ["manual_manual"] })
const withSet = (await post(`/admin/stock-locations/${location.id}/fulfillment-sets?fields=*fulfillment_sets`, { name: "Portland shipping", type: "shipping" })).stock_location
const fset = withSet.fulfillment_sets[0]
const zoneSet = (await post(`/admin/fulfillment-sets/${fset.id}/service-zones`, { name: "US", geo_zones: [{ type: "country", country_code: "us" }] })).fulfillment_set
const zone = zoneSet.service_zones[0]

let profile = (await get("/admin/shipping-profiles?type=default")).shipping_profiles[0]
if (!profile) profile = (await post("/admin/shipping-profiles", { name: "Default", type: "default" })).shipping_profile

const option = (name, code, isReturn, amount) =>
  post("/admin/shipping-options", {
    name,
    service_zone_id: zone.id,
    shipping_profile_id: profile.id,
    provider_id: "manual_manual",
    price_type: "flat",
    type: { label: name, description: name, code },
    prices: [{ currency_code: "usd", amount }],
    rules: [
      { attribute: "enabled_in_store", value: "true", operator: "eq" },
      { attribute: "is_return", value: isReturn ? "true" : "false", operator: "eq" },
    ],
  }).then((r) => r.shipping_option)
const standard = await option("Standard Shipping", "standard", false, 5)
const returnOption = await option("Return by post", "return", true, 0)

// Products, variants with prices and stock.
async function product(title, handle, sizes, price, stock) {
  const p = (await post("/admin/products?fields=*variants,*variants.inventory_items", {
    title,
    handle,
    status: "published",
    shipping_profile_id: profile.id,
    sales_channels: [{ id: channel.id }],
    options: [{ title: "Size", values: sizes }],
    variants: sizes.map((s) => ({
      title: s,
      sku: `${handle.toUpperCase()}-${s}`,
      options: { Size: s },
      manage_inventory: true,
      prices: [{ currency_code: "usd", amount: price }],
    })),
  })).product
  for (const v of p.variants) {
    const item = v.inventory_items[0].inventory_item_id
    await post(`/admin/inventory-items/${item}/location-levels`, { location_id: location.id, stocked_quantity: stock[v.title] ?? 0 })
  }
  return p
}
const tee = await product("Linen Tee", "tee", ["S", "M", "L"], 28, { S: 10, M: 10, L: 0 })
const mug = await product("Stoneware Mug", "mug", ["One size"], 18, { "One size": 25 })
const variant = (p, title) => p.variants.find((v) => v.title === title)

// Customers.
const address = (first, last, line1, city, province, postal) => ({ first_name: first, last_name: last, address_1: line1, city, province, postal_code: postal, country_code: "us" })
async function customer(first, last, mail, addr) {
  const c = (await post("/admin/customers", { email: mail, first_name: first, last_name: last })).customer
  await post(`/admin/customers/${c.id}/addresses`, { ...addr, is_default_shipping: true, is_default_billing: true })
  return c
}
const adaAddress = address("Ada", "Lovelace", "12 Analytical Row", "Portland", "OR", "97210")
const ada = await customer("Ada", "Lovelace", "ada@shopkeep.test", adaAddress)
const benAddress = address("Ben", "Okafor", "9 Harbour St", "Seattle", "WA", "98101")
const ben = await customer("Ben", "Okafor", "ben@shopkeep.test", benAddress)

// Orders: a draft order each, converted, marked paid.
async function order(cust, addr, lines) {
  const draft = (await post("/admin/draft-orders", {
    email: cust.email,
    customer_id: cust.id,
    region_id: region.id,
    sales_channel_id: channel.id,
    shipping_address: addr,
    billing_address: addr,
    items: lines.map(([v, quantity]) => ({ variant_id: v.id, quantity })),
    shipping_methods: [{ name: standard.name, shipping_option_id: standard.id, amount: 5 }],
  })).draft_order
  const o = (await post(`/admin/draft-orders/${draft.id}/convert-to-order`)).order
  const full = (await get(`/admin/orders/${o.id}?fields=id,display_id,total,*items`)).order
  // A converted draft order has no payment yet: collect the total and mark it paid (the system
  // provider), as a store taking payment by other means would.
  const pc = (await post("/admin/payment-collections", { order_id: o.id, amount: full.total })).payment_collection
  await post(`/admin/payment-collections/${pc.id}/mark-as-paid`, { order_id: o.id })
  return full
}
async function fulfil(o, { ship, deliver, carrier, tracking }) {
  const items = o.items.map((i) => ({ id: i.id, quantity: i.quantity }))
  const after = (await post(`/admin/orders/${o.id}/fulfillments?fields=*fulfillments`, { items, location_id: location.id, metadata: carrier ? { carrier } : undefined })).order
  const f = after.fulfillments[after.fulfillments.length - 1]
  if (ship) {
    await post(`/admin/orders/${o.id}/fulfillments/${f.id}/shipments`, {
      items,
      labels: [{ tracking_number: tracking, tracking_url: `https://www.ups.com/track?tracknum=${tracking}`, label_url: `https://labels.example/${tracking}.pdf` }],
    })
  }
  if (deliver) {
    await post(`/admin/orders/${o.id}/fulfillments/${f.id}/mark-as-delivered`)
  }
  return f.id
}

const orders = {}
orders["1001"] = await order(ada, adaAddress, [[variant(tee, "M"), 1]])
orders["1002"] = await order(ada, adaAddress, [[variant(mug, "One size"), 2]])
await fulfil(orders["1002"], { ship: true, carrier: "UPS", tracking: "1Z999AA10123456784" })
orders["1003"] = await order(ada, adaAddress, [[variant(tee, "S"), 1], [variant(mug, "One size"), 1]])
await fulfil(orders["1003"], { ship: true, deliver: true, carrier: "UPS", tracking: "1Z999AA10123456791" })
orders["1004"] = await order(ada, adaAddress, [[variant(mug, "One size"), 1]])
orders["1005"] = await order(ada, adaAddress, [[variant(tee, "S"), 1]])
orders["1006"] = await order(ben, benAddress, [[variant(mug, "One size"), 1]])

const summary = {
  url: base,
  api_key: apiKey,
  location_id: location.id,
  return_shipping_option_id: returnOption.id,
  customers: { ada: ada.id, ben: ben.id },
  orders: Object.fromEntries(Object.entries(orders).map(([n, o]) => [n, { id: o.id, display_id: o.display_id, items: o.items.map((i) => ({ id: i.id, sku: i.variant_sku, quantity: i.quantity })) }])),
  seconds: (Date.now() - started) / 1000,
}
for (const [n, o] of Object.entries(orders)) {
  if (String(o.display_id) !== n) throw new Error(`order ${n} got display id ${o.display_id}: was the order sequence set to 1001 first?`)
}
writeFileSync(out, JSON.stringify(summary, null, 2))
console.log(`seeded ${Object.keys(orders).length} orders in ${summary.seconds.toFixed(1)}s → ${out}`)
