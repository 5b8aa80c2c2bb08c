"""The compatibility matrix (`python -m lab.matrix.matrix`) and the 421 greeter it runs in lab hosts."""
