import time
from pathlib import Path
from geo.region import load_region
from workflow.runner import simulate
r=load_region('configs/pingyang')
t=time.time()
res=simulate(Path('configs/pingyang'),'baseline',start=2010,end=2020,scale=0.05,seed=1,region=r)
print(time.time()-t)
c=res.county.set_index('year'); print(c.loc[[2010,2015,2020],['population','primacy','shuitou_share','urbanisation','aged60_share','in_migrants','out_migrants','births','deaths']])
t=res.townships[res.townships.year==2020].set_index('township').population
import numpy as np
p20=np.array([x.pop_2020 for x in r.townships]); print('MAPE', np.mean(np.abs(t.loc[r.codes].values-p20)/p20))
