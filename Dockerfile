# syntax=docker/dockerfile:1
# voke-auth: no compile step, tsx runs the TypeScript sources.

# Dependencies, from the lockfile, without dev dependencies.
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
# Read at run time: broker user names (org slugs may not equal them).
COPY definitions.json ./
# Non-root (uid 1000 from the base image).
USER node
# 8080: auth listener (RabbitMQ only), 8081: admin listener.
EXPOSE 8080 8081
# node:20-slim has no curl: probe /healthz with node's fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8081/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1 (not npm), so SIGTERM reaches the service's graceful shutdown.
CMD ["node", "--import", "tsx", "src/main.ts"]
