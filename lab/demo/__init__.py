"""The demo lab: its traffic check (`python -m lab.demo.traffic`) and the crude client it runs in lab hosts."""
