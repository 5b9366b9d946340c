# R survey timing of the banner book of bench_tables.py (for the speed ratio).
#
#   python benchmarks/bench_tables.py --n 2000 --export /tmp/bench_2000.csv
#   Rscript benchmarks/bench_tables.R /tmp/bench_2000.csv
#   python benchmarks/bench_tables.py --n 2000 --uncalibrated --no-chisq
#
# Same work as ramlab's letters: for each of the 60 questions and each of the 3
# banner variables, svyby(~answers, ~variable, design, svymean, covmat = TRUE)
# and svycontrast() of every pair of groups for every answer row. Equal weights,
# no raking (svyby(covmat = TRUE) errors on calibrated designs in survey 4.1-1).
suppressPackageStartupMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
df <- read.csv(args[1], stringsAsFactors = TRUE)
d <- svydesign(ids = ~1, data = df, weights = rep(1, nrow(df)))
banner <- c("taille", "secteur", "region")
qcols <- list()
for (nm in names(df)) {
  if (grepl("^(s|e)[0-9]+$", nm)) qcols[[nm]] <- nm
}
multis <- unique(sub("_[0-9]+$", "", grep("^m[0-9]+_", names(df), value = TRUE)))
grids <- unique(sub("_[0-9]+$", "", grep("^g[0-9]+_", names(df), value = TRUE)))
nums <- grep("^n[0-9]+$", names(df), value = TRUE)
letters_for <- function(f, by) {
  b <- svyby(f, by, d, svymean, covmat = TRUE, na.rm = TRUE)
  g <- nrow(b)
  k <- length(coef(b)) / g
  for (j in seq_len(k)) for (a in 1:(g - 1)) for (c in (a + 1):g) {
    w <- rep(0, g * k); w[(j - 1) * g + a] <- 1; w[(j - 1) * g + c] <- -1
    svycontrast(b, w)
  }
}
t0 <- proc.time()[["elapsed"]]
for (v in banner) {
  by <- as.formula(paste0("~", v))
  for (q in qcols) letters_for(as.formula(paste0("~", q)), by)
  for (m in multis) {
    items <- grep(paste0("^", m, "_"), names(df), value = TRUE)
    letters_for(as.formula(paste0("~I(", items, " == 'Cité')", collapse = "+")), by)
  }
  for (g in grids) for (it in grep(paste0("^", g, "_"), names(df), value = TRUE))
    letters_for(as.formula(paste0("~", it)), by)
  for (q in nums) letters_for(as.formula(paste0("~", q)), by)
}
cat(sprintf("R survey %s: n=%d  seconds=%.3f\n", as.character(packageVersion("survey")),
            nrow(df), proc.time()[["elapsed"]] - t0))
