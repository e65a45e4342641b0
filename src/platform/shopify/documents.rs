//! Every GraphQL document the Shopify connector can send, and nothing else: the connector's
//! requests name one of these constants, and [`ALL`] lists them so that tests/shopify.rs can
//! validate each one against Shopify's published Admin schema for [`super::API_VERSION`].
//!
//! The connection sizes (`first:`) keep one order's calculated query cost well under the
//! 1,000-point ceiling of a single query; a customer's orders are read as ids first and then one
//! by one, for the same reason.

/// The fields of an order shopkeep reads (money as `shopMoney`, the shop's currency).
macro_rules! order_fragment {
    () => {
        r#"
fragment ShopkeepOrder on Order {
  id name email createdAt cancelledAt
  displayFinancialStatus displayFulfillmentStatus
  customer { id }
  currentSubtotalPriceSet { shopMoney { amount } }
  currentShippingPriceSet { shopMoney { amount } }
  currentTotalTaxSet { shopMoney { amount } }
  currentTotalPriceSet { shopMoney { amount } }
  shippingLine { title }
  shippingAddress { firstName lastName address1 address2 city province provinceCode zip countryCodeV2 }
  lineItems(first: 50) { nodes {
    id name title sku quantity currentQuantity unfulfilledQuantity
    originalUnitPriceSet { shopMoney { amount } }
    variant { id sku selectedOptions { name value } }
    product { id title }
  } }
  fulfillments(first: 5) {
    id status displayStatus createdAt inTransitAt deliveredAt estimatedDeliveryAt
    trackingInfo(first: 3) { company number url }
    fulfillmentLineItems(first: 20) { nodes { quantity lineItem { id } } }
    events(first: 5, sortKey: HAPPENED_AT, reverse: true) { nodes { happenedAt status message } }
  }
  returns(first: 5) { nodes {
    id name status createdAt
    returnLineItems(first: 20) { nodes {
      quantity customerNote
      ... on ReturnLineItem { fulfillmentLineItem { lineItem { id } } }
    } }
  } }
  transactions(first: 20) { kind status gateway processedAt amountSet { shopMoney { amount } } }
}
"#
    };
}

macro_rules! customer_fragment {
    () => {
        r#"
fragment ShopkeepCustomer on Customer {
  id firstName lastName
  defaultEmailAddress { emailAddress }
  defaultPhoneNumber { phoneNumber }
  defaultAddress { firstName lastName address1 address2 city province provinceCode zip countryCodeV2 }
}
"#
    };
}

macro_rules! product_fragment {
    () => {
        r#"
fragment ShopkeepProduct on Product {
  id title handle status productType description tags onlineStoreUrl
  options(first: 3) { name optionValues { name } }
  variants(first: 50) { nodes {
    id sku price availableForSale inventoryQuantity
    selectedOptions { name value }
    inventoryItem { tracked }
  } }
}
"#
    };
}

/// `$query`: `name:"#1001"`. Without the `read_all_orders` scope Shopify searches only the
/// last 60 days of orders.
pub const ORDER_BY_NAME: &str = concat!(
    "query ShopkeepOrderByName($query: String!) { orders(first: 5, query: $query) { nodes { ...ShopkeepOrder } } }",
    order_fragment!()
);

pub const ORDER_BY_ID: &str = concat!(
    "query ShopkeepOrderById($id: ID!) { order(id: $id) { ...ShopkeepOrder } }",
    order_fragment!()
);

/// `$query`: `email:"maya@example.com"`.
pub const CUSTOMER_BY_EMAIL: &str = concat!(
    "query ShopkeepCustomerByEmail($query: String!) { customers(first: 5, query: $query) { nodes { ...ShopkeepCustomer } } }",
    customer_fragment!()
);

pub const CUSTOMER_BY_ID: &str = concat!(
    "query ShopkeepCustomerById($id: ID!) { customer(id: $id) { ...ShopkeepCustomer } }",
    customer_fragment!()
);

/// A customer's newest 50 orders, as ids (each is then read with [`ORDER_BY_ID`]).
pub const CUSTOMER_ORDERS: &str = "query ShopkeepCustomerOrders($id: ID!) { customer(id: $id) { orders(first: 50, sortKey: CREATED_AT, reverse: true) { nodes { id name } } } }";

/// Products by id (a few at a time: each brings up to 50 variants).
pub const PRODUCTS: &str = concat!(
    "query ShopkeepProducts($ids: [ID!]!) { nodes(ids: $ids) { ... on Product { ...ShopkeepProduct } } }",
    product_fragment!()
);

/// The product an inventory item (an `inventory_levels/update` webhook) belongs to.
pub const INVENTORY_ITEM_PRODUCT: &str = "query ShopkeepInventoryItemProduct($id: ID!) { inventoryItem(id: $id) { id variant { id product { id } } } }";

/// `$query`: `sku:"LSH-WHITE-L"`: the variant an item change asks for.
pub const VARIANT_BY_SKU: &str = "query ShopkeepVariantBySku($query: String!) { productVariants(first: 2, query: $query) { nodes { id sku } } }";

/// An asynchronous job (`orderCancel` answers with one).
pub const JOB: &str = "query ShopkeepJob($id: ID!) { job(id: $id) { id done } }";

/// The fulfilment lines of an order that can still be returned, with how many of each.
pub const RETURNABLE_FULFILLMENTS: &str = "query ShopkeepReturnable($orderId: ID!) { returnableFulfillments(orderId: $orderId, first: 10) { nodes { id returnableFulfillmentLineItems(first: 50) { nodes { quantity fulfillmentLineItem { id lineItem { id sku variant { id sku } } } } } } } }";

/// The whole order, refunded to the original payment, restocked, the customer notified.
pub const ORDER_CANCEL: &str = "mutation ShopkeepOrderCancel($orderId: ID!, $reason: OrderCancelReason!, $staffNote: String) { orderCancel(orderId: $orderId, reason: $reason, refund: true, restock: true, notifyCustomer: true, staffNote: $staffNote) { job { id done } orderCancelUserErrors { code field message } } }";

/// A return the merchant approves (status `REQUESTED`).
pub const RETURN_REQUEST: &str = "mutation ShopkeepReturnRequest($input: ReturnRequestInput!) { returnRequest(input: $input) { return { id name status } userErrors { code field message } } }";

pub const ORDER_EDIT_BEGIN: &str = "mutation ShopkeepOrderEditBegin($id: ID!) { orderEditBegin(id: $id) { calculatedOrder { id lineItems(first: 50) { nodes { id quantity editableQuantity sku variant { id sku } } } } userErrors { field message } } }";

pub const ORDER_EDIT_SET_QUANTITY: &str = "mutation ShopkeepOrderEditSetQuantity($id: ID!, $lineItemId: ID!, $quantity: Int!) { orderEditSetQuantity(id: $id, lineItemId: $lineItemId, quantity: $quantity, restock: true) { calculatedOrder { id } userErrors { field message } } }";

pub const ORDER_EDIT_ADD_VARIANT: &str = "mutation ShopkeepOrderEditAddVariant($id: ID!, $variantId: ID!, $quantity: Int!) { orderEditAddVariant(id: $id, variantId: $variantId, quantity: $quantity, allowDuplicates: false) { calculatedLineItem { id } userErrors { field message } } }";

pub const ORDER_EDIT_COMMIT: &str = "mutation ShopkeepOrderEditCommit($id: ID!, $staffNote: String) { orderEditCommit(id: $id, notifyCustomer: true, staffNote: $staffNote) { order { id } userErrors { field message } } }";

/// The order's shipping address.
pub const ORDER_UPDATE: &str = "mutation ShopkeepOrderUpdate($input: OrderInput!) { orderUpdate(input: $input) { order { id } userErrors { field message } } }";

/// Which shop the token opens and the scopes it was granted (`shopkeep connect shopify`).
pub const CONNECTION: &str = "query ShopkeepConnection { shop { name myshopifyDomain } currentAppInstallation { accessScopes { handle } } }";

/// Every document above, by name.
pub const ALL: &[(&str, &str)] = &[
    ("ORDER_BY_NAME", ORDER_BY_NAME),
    ("ORDER_BY_ID", ORDER_BY_ID),
    ("CUSTOMER_BY_EMAIL", CUSTOMER_BY_EMAIL),
    ("CUSTOMER_BY_ID", CUSTOMER_BY_ID),
    ("CUSTOMER_ORDERS", CUSTOMER_ORDERS),
    ("PRODUCTS", PRODUCTS),
    ("INVENTORY_ITEM_PRODUCT", INVENTORY_ITEM_PRODUCT),
    ("VARIANT_BY_SKU", VARIANT_BY_SKU),
    ("JOB", JOB),
    ("RETURNABLE_FULFILLMENTS", RETURNABLE_FULFILLMENTS),
    ("ORDER_CANCEL", ORDER_CANCEL),
    ("RETURN_REQUEST", RETURN_REQUEST),
    ("ORDER_EDIT_BEGIN", ORDER_EDIT_BEGIN),
    ("ORDER_EDIT_SET_QUANTITY", ORDER_EDIT_SET_QUANTITY),
    ("ORDER_EDIT_ADD_VARIANT", ORDER_EDIT_ADD_VARIANT),
    ("ORDER_EDIT_COMMIT", ORDER_EDIT_COMMIT),
    ("ORDER_UPDATE", ORDER_UPDATE),
    ("CONNECTION", CONNECTION),
];
