#!/usr/bin/env node
/** The `ringleader` executable. */
import { main } from './index.js';

await main();
