# syntax=docker/dockerfile:1
# tickline in a container: `docker build -t tickline .` then
#   docker run -p 7070:7070 -v tickline-data:/data tickline
# Multi-stage: the build stage installs everything, builds the dashboard and the CLI's bundle
# (bin/build.js, in node_modules/.cache); the runtime stage keeps production dependencies only
# and runs as the unprivileged `node` user.
FROM node:20.19.4-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:web && npm prune --omit=dev && node bin/tickline.js --version

FROM node:20.19.4-bookworm-slim
ENV NODE_ENV=production \
    TICKLINE_DATA_DIR=/data
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json /app/package-lock.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/bin ./bin
COPY --from=build --chown=node:node /app/src ./src
COPY --from=build --chown=node:node /app/web/dist ./web/dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 7070
# /api/health answers without a key (liveness only), also on a non-loopback bind.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:7070/api/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/tickline.js"]
CMD ["up", "--host", "0.0.0.0", "--port", "7070"]
