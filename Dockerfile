# syntax=docker/dockerfile:1
# fanout-kv: a two-stage image. The build stage compiles TypeScript to dist/; the runtime
# stage holds only the production dependencies and dist/, and runs as the non-root `node` user.
#
#   docker build -t fanout-kv .
#   docker run --rm -p 127.0.0.1:3000:3000 -v fanout-kv-data:/data fanout-kv
#
# Keys persist in /data (KV_DATA_DIR), a volume: name it (-v NAME:/data) to keep them across
# containers; KV_DATA_DIR= (empty) runs in memory only. Settings are environment variables
# (KV_WORKERS, KV_AUTH_TOKEN, KV_FSYNC, LOG_LEVEL, ...); docker-compose.yml passes them through.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
# tini runs as PID 1: it hands SIGTERM/SIGINT to the cluster primary (which drains and stops
# its workers, then exits 0) and reaps any orphan. -s keeps it quiet when Docker's own init
# (`docker run --init`, compose `init: true`) is PID 1 above it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV HOST=0.0.0.0 PORT=3000 NODE_ENV=production KV_DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The data directory belongs to the user the server runs as. It is made before VOLUME: a new
# named volume starts as a copy of it, owner included.
RUN mkdir /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 3000
# No curl in the slim image: node itself asks /_/health (200 once this worker serves).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "require('http').get({host:'127.0.0.1',port:process.env.PORT||3000,path:'/_/health',timeout:2000},r=>process.exit(r.statusCode===200?0:1)).on('timeout',function(){this.destroy()}).on('error',()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "-s", "--"]
CMD ["node", "dist/main.js"]
