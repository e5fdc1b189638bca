"""A differential fuzzer of frys's patterns against the real Flink 2.3 CEP library
(README.md): spec.py (the neutral case), generate.py (random cases), oracle.py and
FlinkCepOracle.java (the Flink side), frys_side.py, run.py (compare and report),
install.py (Flink's own venv and the driver's classes)."""
