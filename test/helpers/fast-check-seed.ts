/**
 * Property tests run from one fixed seed, so that a CI run is repeatable: a failure names its
 * seed and counterexample, and the next run reproduces it. MLV_FUZZ_SEED=<n> picks another seed;
 * MLV_FUZZ_SEED=random explores with a new seed on every run (fast-check prints it on failure).
 */
import fc from 'fast-check';

const chosen = process.env['MLV_FUZZ_SEED'];
if (chosen !== 'random') fc.configureGlobal({ seed: chosen ? Number(chosen) : 20261128 });
