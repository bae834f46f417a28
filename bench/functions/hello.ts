/** The baseline of bench:claim's cold start: a functions-framework hello. */
import { http } from '@google-cloud/functions-framework';

http('hello', (_req, res) => {
  res.send('hello');
});
