// Tells shopkeep that an order changed in Medusa, so its copy of the order is re-read at once
// instead of at the customer's next question. Copy this file into your Medusa project's
// src/subscribers/ and set, in Medusa's environment:
//
//   SHOPKEEP_EVENTS_URL     shopkeep's intake, e.g. https://support.example/v1/platform/events
//   SHOPKEEP_EVENTS_SECRET  the same value as shopkeep's platform.events_secret (16+ characters)
//
// Each event is POSTed as {"event": "<name>", "id": "<order id>"} (a shipment's or delivery's
// fulfilment is looked up to its order) with the header
// `X-Shopkeep-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`. Only the id is
// sent: shopkeep re-reads the order from the Admin API, so nothing in the body is trusted beyond
// "this order changed". A failed POST is logged and dropped (the next question re-reads anyway).
import type { SubscriberArgs, SubscriberConfig } from "@medusajs/framework"
import { createHmac } from "node:crypto"

type Payload = { id?: string; order_id?: string }

// shipment.created and delivery.created name the fulfilment; shopkeep wants its order.
async function orderId(event: SubscriberArgs<Payload>["event"], container: SubscriberArgs<Payload>["container"]): Promise<string | undefined> {
  if (event.data.order_id) {
    return event.data.order_id
  }
  if (!event.name.startsWith("shipment.") && !event.name.startsWith("delivery.")) {
    return event.data.id
  }
  const query = container.resolve("query")
  const { data } = await query.graph({ entity: "fulfillment", fields: ["id", "order.id"], filters: { id: event.data.id } })
  return (data[0] as { order?: { id?: string } } | undefined)?.order?.id
}

export default async function shopkeepOrderChanged({ event, container }: SubscriberArgs<Payload>) {
  const url = process.env.SHOPKEEP_EVENTS_URL
  const secret = process.env.SHOPKEEP_EVENTS_SECRET
  if (!url || !secret) {
    return
  }
  const id = await orderId(event, container).catch(() => undefined)
  if (!id) {
    return
  }
  const body = JSON.stringify({ event: event.name, id })
  const signature = createHmac("sha256", secret).update(body).digest("hex")
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-shopkeep-signature": `sha256=${signature}` },
      body,
      signal: AbortSignal.timeout(5000),
    })
    if (!res.ok) {
      container.resolve("logger").warn(`shopkeep: ${event.name} ${id} → HTTP ${res.status}`)
    }
  } catch (e) {
    container.resolve("logger").warn(`shopkeep: ${event.name} ${id} not delivered: ${e}`)
  }
}

export const config: SubscriberConfig = {
  event: ["order.placed", "order.updated", "order.canceled", "order.completed", "order.fulfillment_created", "order.return_requested", "shipment.created", "delivery.created"],
}
