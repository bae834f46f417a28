#!/usr/bin/env node
// The `warmer` command (package.json "bin"). Plain JavaScript so it runs on a fresh clone
// after `npm ci` with no build step: it registers tsx's loader, then runs cli/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
