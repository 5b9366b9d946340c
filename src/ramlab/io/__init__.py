"""Survey data in and out: SPSS files, specifications, the loaded survey, the synthetic generator."""
