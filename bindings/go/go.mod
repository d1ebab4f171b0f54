module tinydl.invalid/tinydl

go 1.19
