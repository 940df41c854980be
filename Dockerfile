# One image for every Conveyor process; docker-compose.yml picks the process
# with `command` (node bin/conveyor.js server | worker | dashboard).
#
# Stage 1 compiles the TypeScript to dist/ (tsc is a dev dependency); stage 2
# holds the compiled JavaScript and the production dependencies only, and runs
# it with plain node: no TypeScript loader, no compiler in the image.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
# Dependencies first, so a code change does not re-run npm ci.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin

# Not root: nothing in Conveyor needs it.
USER node

EXPOSE 3000 3001
# The API server by default; compose sets the worker and dashboard commands.
CMD ["node", "bin/conveyor.js", "server"]
