module confrobust

go 1.26
