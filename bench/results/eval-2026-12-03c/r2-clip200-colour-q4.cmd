./vtprune --threads 2 train --out /tmp/t4/r2-clip200-colour-q4 --batch 16 --questions 4 --types colour --clip-steps 200 --steps 300 --lr 1e-3 --log-every 20 --val 200
