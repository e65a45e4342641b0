// The Medusa server shopkeep's end-to-end test runs against (scripts/medusa.sh). Plain
// JavaScript, so no TypeScript build is needed; the admin dashboard is off (the test only
// uses the Admin REST API) and everything listens on loopback.
const { loadEnv, defineConfig } = require("@medusajs/framework/utils")

loadEnv(process.env.NODE_ENV || "development", process.cwd())

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    http: {
      storeCors: process.env.STORE_CORS || "http://127.0.0.1",
      adminCors: process.env.ADMIN_CORS || "http://127.0.0.1",
      authCors: process.env.AUTH_CORS || "http://127.0.0.1",
      jwtSecret: process.env.JWT_SECRET || "shopkeep-e2e-jwt",
      cookieSecret: process.env.COOKIE_SECRET || "shopkeep-e2e-cookie",
    },
  },
  admin: { disable: true },
})
