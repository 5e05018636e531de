# One image for every service; each Deployment chooses its entry point
# (bun services/<name>/main.ts). Built on the official Bun image, run as a
# non-root user with a read-only root filesystem in the cluster.
# BUN_IMAGE may name a local equivalent of the official image (hack/images/build-base.sh
# makes one where no registry is reachable); its Bun must be the pinned 1.4.5.
ARG BUN_IMAGE=oven/bun:1.4.5-slim

FROM ${BUN_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# PEM text of extra certificate authorities for reaching the npm registry (behind
# a TLS-inspecting proxy); used by this build stage only, never in the image.
ARG EXTRA_CA_CERTS=""
# Bun reads package-lock.json; only runtime dependencies go into the image.
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" > /tmp/extra-ca.pem && export NODE_EXTRA_CA_CERTS=/tmp/extra-ca.pem; \
    fi \
 && bun install --production \
 && rm -f /tmp/extra-ca.pem

# The stdio bridge as one self-contained file: a stdio MCPServer's pod copies
# it into its own container (which need not have Bun) and runs the server behind it.
FROM deps AS bridge
COPY lib ./lib
COPY services/stdio-bridge ./services/stdio-bridge
RUN bun build --compile services/stdio-bridge/main.ts --outfile /app/bin/mcp-stdio-bridge

FROM ${BUN_IMAGE}
# python3 for the code-runner's Python snippets; bubblewrap for its sandbox; util-linux for
# prlimit, choom and setsid.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap python3 util-linux \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY lib ./lib
COPY services ./services
COPY proto ./proto
COPY deploy/crds ./deploy/crds
COPY --from=bridge /app/bin/mcp-stdio-bridge ./bin/mcp-stdio-bridge
ENV NODE_ENV=production \
    # the root filesystem is read-only: no transpiler cache on disk
    BUN_RUNTIME_TRANSPILER_CACHE_PATH=0
USER 65532:65532
CMD ["bun", "services/gateway/main.ts"]
