fn main() {
    let path = std::path::Path::new("/work/shared/data/countdown/train.parquet");
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let file = std::fs::File::open(path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let mut n = 0;
        for b in reader {
            n += b.unwrap().num_rows();
        }
        let t1 = t.elapsed();
        let ds = aha_data::load(path, &Default::default()).unwrap();
        println!("decode {n} rows {:?}; full load {:?}", t1, t.elapsed() - t1);
        assert_eq!(ds.problems.len(), n);
    }
}
