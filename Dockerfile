# One image for every Conveyor process; docker-compose.yml picks the process
# with `command`. TypeScript runs through tsx (a runtime dependency), so there
# is no build step and the image holds the same files as the repository.
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so a code change does not re-run npm ci.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .

# Not root: nothing in Conveyor needs it.
USER node

EXPOSE 3000 3001
# The API server by default; compose sets the worker and dashboard commands.
CMD ["node", "--import", "tsx", "server/main.ts"]
